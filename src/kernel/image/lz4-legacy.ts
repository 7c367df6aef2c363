/**
 * A decoder for the LZ4 *legacy* frame that `lz4 -l` writes and x86 kernels use for their payload
 * (CONFIG_KERNEL_LZ4). The npm lz4 packages either reject the legacy magic or need a native build, and
 * the format is small: the magic, then blocks of `u32 LE compressed size` + one raw LZ4 block, each
 * inflating to at most 8 MiB; a size equal to the magic starts another stream. One block in and one
 * block out are all that is ever held.
 */
export const LZ4_LEGACY_MAGIC = 0x184c2102;
const BLOCK_OUTPUT_MAX = 8 << 20;
/** LZ4_compressBound(8 MiB): no valid block is longer. */
const BLOCK_INPUT_MAX = BLOCK_OUTPUT_MAX + Math.floor(BLOCK_OUTPUT_MAX / 255) + 16;

export class Lz4FormatError extends Error {}

/** Decodes a whole legacy stream (the kernel's 4-byte size trailer already removed). */
export async function* decodeLz4Legacy(input: AsyncIterable<Uint8Array>): AsyncGenerator<Buffer> {
  let pending: Buffer = Buffer.alloc(0);
  let offset = 0; // compressed bytes consumed, for messages
  let sawMagic = false;
  const output = Buffer.alloc(BLOCK_OUTPUT_MAX);
  const take = (length: number): Buffer => {
    const head = pending.subarray(0, length);
    pending = pending.subarray(length);
    offset += length;
    return head;
  };
  const iterator = input[Symbol.asyncIterator]();
  const fill = async (length: number): Promise<boolean> => {
    if (pending.length >= length) return true;
    // Gather chunks and join once: a block is up to 8 MiB, fed in 64 KiB chunks.
    const parts: Buffer[] = [pending];
    let have = pending.length;
    while (have < length) {
      const next = await iterator.next();
      if (next.done) break;
      parts.push(Buffer.from(next.value.buffer, next.value.byteOffset, next.value.byteLength));
      have += next.value.byteLength;
    }
    pending = Buffer.concat(parts, have);
    return have >= length;
  };
  for (;;) {
    if (!(await fill(4))) {
      if (pending.length === 0 && sawMagic) return;
      throw new Lz4FormatError(`the stream ends inside a block header at byte ${offset + pending.length}`);
    }
    const word = take(4).readUInt32LE(0);
    if (word === LZ4_LEGACY_MAGIC) {
      sawMagic = true;
      continue;
    }
    if (!sawMagic) throw new Lz4FormatError('it does not start with the legacy frame magic 02 21 4c 18');
    if (word === 0 || word > BLOCK_INPUT_MAX) {
      throw new Lz4FormatError(`block size ${word} at byte ${offset - 4} is out of range`);
    }
    if (!(await fill(word))) {
      throw new Lz4FormatError(`a ${word}-byte block at byte ${offset} is cut off`);
    }
    const at = offset;
    const length = decodeBlock(take(word), output, at);
    // A copy: the caller may keep the chunk while the next block overwrites `output`.
    yield Buffer.from(output.subarray(0, length));
  }
}

/** One raw LZ4 block into `out`; returns how many bytes it produced. */
function decodeBlock(block: Buffer, out: Buffer, at: number): number {
  let i = 0;
  let o = 0;
  const fail = (what: string): never => {
    throw new Lz4FormatError(`the block at byte ${at} is corrupt: ${what}`);
  };
  const length = (initial: number): number => {
    let value = initial;
    if (initial === 15) {
      for (;;) {
        if (i >= block.length) fail('a length runs past its end');
        const byte = block[i++] as number;
        value += byte;
        if (byte !== 255) break;
      }
    }
    return value;
  };
  while (i < block.length) {
    const token = block[i++] as number;
    const literals = length(token >> 4);
    if (i + literals > block.length || o + literals > out.length) fail('literals run past its end');
    block.copy(out, o, i, i + literals);
    i += literals;
    o += literals;
    if (i === block.length) break; // the last sequence has literals only
    if (i + 2 > block.length) fail('a match offset is cut off');
    const distance = block.readUInt16LE(i);
    i += 2;
    if (distance === 0 || distance > o) fail(`match offset ${distance} points before the block's start`);
    const matchLength = length(token & 15) + 4;
    if (o + matchLength > out.length) fail('a match inflates past 8 MiB');
    if (distance >= matchLength) {
      out.copy(out, o, o - distance, o - distance + matchLength);
      o += matchLength;
    } else {
      // Overlapping: the match repeats bytes it is itself writing.
      for (let n = 0; n < matchLength; n++, o++) out[o] = out[o - distance] as number;
    }
  }
  return o;
}
