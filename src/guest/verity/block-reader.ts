import type { FileHandle } from 'node:fs/promises';
import { verityDataTooShort } from './verity-errors.ts';

/** A run of whole blocks inside an open file. */
export interface BlockRange {
  handle: FileHandle;
  /** for messages */
  path: string;
  offset: number;
  blocks: number;
  blockSize: number;
}

/** Reads at most this much at once, so memory stays bounded whatever the device size. */
const CHUNK_BYTES = 1 << 20;

/**
 * Yields the range's bytes in chunks of whole blocks (one reused buffer: a consumer must finish with a
 * chunk before asking for the next). A file that ends early is VERITY_DATA_TOO_SHORT, never zeros.
 */
export async function* readBlocks(range: BlockRange): AsyncGenerator<Buffer> {
  const blocksPerChunk = Math.max(1, Math.floor(CHUNK_BYTES / range.blockSize));
  const buffer = Buffer.allocUnsafe(blocksPerChunk * range.blockSize);
  const total = range.blocks * range.blockSize;
  let done = 0;
  while (done < total) {
    const want = Math.min(buffer.length, total - done);
    let got = 0;
    while (got < want) {
      const { bytesRead } = await range.handle.read(buffer, got, want - got, range.offset + done + got);
      if (bytesRead === 0) throw verityDataTooShort(range.path, range.offset, total, done + got);
      got += bytesRead;
    }
    yield buffer.subarray(0, want);
    done += want;
  }
}
