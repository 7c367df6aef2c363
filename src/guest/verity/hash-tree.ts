import { createHash, getHashes, type Hash } from 'node:crypto';
import type { FileHandle } from 'node:fs/promises';
import { readBlocks, type BlockRange } from './block-reader.ts';
import type { HashLevel, HashTreeGeometry } from './hash-tree-geometry.ts';
import { verityInvalid } from './verity-errors.ts';

/** Format 1 digest: the salt comes first (dm-verity's "version 1"; Chrome OS's version 0 appends it). */
export type BlockDigest = (block: Buffer) => Buffer;

export function saltedDigest(algorithm: string, salt: Buffer): BlockDigest {
  if (!getHashes().includes(algorithm)) {
    throw verityInvalid(
      `hash algorithm "${algorithm}" is not available`,
      'use sha256 (what Kata and the kernel line use)',
    );
  }
  // Hash the salt once and clone that state for every block.
  const salted: Hash = createHash(algorithm).update(salt);
  return (block) => salted.copy().update(block).digest();
}

export function digestSize(algorithm: string): number {
  return createHash(algorithm).digest().length;
}

/** The hash device: an open file and the byte where its block 0 is. */
export interface HashDevice {
  handle: FileHandle;
  path: string;
  offset: number;
}

/**
 * Receives each run of finished hash blocks of a level, in order. Format writes them; verify compares
 * them with what is stored. `position` is the byte offset in the hash file.
 */
export type HashSink = (
  bytes: Buffer,
  position: number,
  level: HashLevel,
  firstBlock: number,
) => Promise<void>;

/** Output is flushed in runs of at most this many bytes, so memory stays bounded. */
const RUN_BYTES = 256 << 10;

/**
 * Walks the tree bottom-up: the leaf level from the data, every higher level from the level below as
 * the hash device holds it once the sink has run (written by format, checked equal by verify), then
 * the root from the single top block (or from the only data block when there is one). Only one input
 * chunk and one output run are ever in memory.
 */
export async function walkHashTree(
  data: BlockRange,
  hash: HashDevice,
  geometry: HashTreeGeometry,
  digest: BlockDigest,
  sink: HashSink,
): Promise<Buffer> {
  const { hashBlockSize, digestSlot, digestsPerBlock } = geometry;
  const runBlocks = Math.max(1, Math.floor(RUN_BYTES / hashBlockSize));
  const run = Buffer.alloc(runBlocks * hashBlockSize);
  for (const level of geometry.levels) {
    const below = geometry.levels[level.level - 1];
    const input: BlockRange =
      below === undefined
        ? data
        : {
            handle: hash.handle,
            path: hash.path,
            offset: hash.offset + below.startBlock * hashBlockSize,
            blocks: below.blocks,
            blockSize: hashBlockSize,
          };
    let slot = 0;
    let flushedBlocks = 0;
    const flush = async (blocks: number) => {
      const position = hash.offset + (level.startBlock + flushedBlocks) * hashBlockSize;
      await sink(run.subarray(0, blocks * hashBlockSize), position, level, flushedBlocks);
      flushedBlocks += blocks;
      run.fill(0);
      slot = 0;
    };
    for await (const chunk of readBlocks(input)) {
      for (let at = 0; at < chunk.length; at += input.blockSize) {
        digest(chunk.subarray(at, at + input.blockSize)).copy(run, slot * digestSlot);
        slot++;
        if (slot === runBlocks * digestsPerBlock) await flush(runBlocks);
      }
    }
    if (slot > 0) await flush(Math.ceil(slot / digestsPerBlock));
    if (flushedBlocks !== level.blocks) {
      throw new Error(
        `hash level ${level.level}: made ${flushedBlocks} blocks, geometry says ${level.blocks}`,
      );
    }
  }
  const top = geometry.levels.at(-1);
  const rootInput: BlockRange =
    top === undefined
      ? { ...data, blocks: 1 }
      : {
          handle: hash.handle,
          path: hash.path,
          offset: hash.offset + top.startBlock * hashBlockSize,
          blocks: 1,
          blockSize: hashBlockSize,
        };
  for await (const block of readBlocks(rootInput)) return digest(block);
  throw new Error('unreachable: a one-block range yields one chunk');
}
