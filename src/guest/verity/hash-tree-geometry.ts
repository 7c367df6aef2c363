import { verityInvalid } from './verity-errors.ts';

/** Where one level of the tree lives on the hash device, in hash blocks from the start of the device. */
export interface HashLevel {
  /** 0 is the leaf level (digests of data blocks); the highest level has exactly one block. */
  level: number;
  startBlock: number;
  blocks: number;
}

export interface HashTreeGeometry {
  dataBlocks: number;
  dataBlockSize: number;
  hashBlockSize: number;
  /** Bytes each digest occupies in a hash block: format 1 pads a digest to a power of two. */
  digestSlot: number;
  digestsPerBlock: number;
  /** Leaf level first. Empty when there is one data block: the root is then that block's digest. */
  levels: HashLevel[];
  /** Hash block where the tree starts (the top level is written there). */
  treeStartBlock: number;
  /** Hash blocks in the whole tree. */
  hashBlocks: number;
}

export const SUPERBLOCK_SIZE = 512;
const MAX_LEVELS = 63;

export function checkBlockSize(name: string, size: number): void {
  // The kernel target accepts powers of two from 512 bytes up to the page size; cryptsetup allows up to 512 KiB.
  if (!Number.isSafeInteger(size) || size < 512 || size > 524288 || (size & (size - 1)) !== 0) {
    throw verityInvalid(
      `${name} ${size} is not a power of two between 512 and 524288`,
      `use 4096 (the default)`,
    );
  }
}

/**
 * The tree's shape as cryptsetup lays it out (lib/verity/verity_hash.c hash_levels): the number of
 * levels is the smallest that fans `dataBlocks` into one block, and levels are stored top first, so
 * the top level starts at `treeStartBlock` and the leaf level comes last.
 */
export function hashTreeGeometry(options: {
  dataBlocks: number;
  dataBlockSize: number;
  hashBlockSize: number;
  digestSize: number;
  treeStartBlock: number;
}): HashTreeGeometry {
  const { dataBlocks, dataBlockSize, hashBlockSize, digestSize, treeStartBlock } = options;
  checkBlockSize('data block size', dataBlockSize);
  checkBlockSize('hash block size', hashBlockSize);
  if (!Number.isSafeInteger(dataBlocks) || dataBlocks < 1) {
    throw verityInvalid(
      `data blocks ${dataBlocks} is not a positive integer`,
      'the data must hold at least one block',
    );
  }
  let digestSlot = 1;
  while (digestSlot < digestSize) digestSlot *= 2;
  const bits = Math.floor(Math.log2(hashBlockSize / digestSlot));
  if (bits < 1)
    throw verityInvalid(`hash block size ${hashBlockSize} holds fewer than two digests`, 'use 4096');
  const digestsPerBlock = 2 ** bits;
  let levelCount = 0;
  while (bits * levelCount < 64 && Math.floor((dataBlocks - 1) / 2 ** (bits * levelCount)) > 0) levelCount++;
  if (levelCount > MAX_LEVELS)
    throw verityInvalid(`the tree would need ${levelCount} levels`, 'use bigger blocks');
  const levels: HashLevel[] = [];
  let position = treeStartBlock;
  for (let level = levelCount - 1; level >= 0; level--) {
    const blocks = Math.ceil(dataBlocks / 2 ** ((level + 1) * bits));
    levels[level] = { level, startBlock: position, blocks };
    position += blocks;
  }
  return {
    dataBlocks,
    dataBlockSize,
    hashBlockSize,
    digestSlot,
    digestsPerBlock,
    levels,
    treeStartBlock,
    hashBlocks: position - treeStartBlock,
  };
}
