import { open, type FileHandle } from 'node:fs/promises';
import { addonsInvalid, addonsNotSquashfs, addonsUnreadable } from './addons-errors.ts';

/** The compressors squashfs 4.0 defines, by their superblock id (squashfs_fs.h). */
export const SQUASHFS_COMPRESSIONS = {
  1: 'gzip',
  2: 'lzma',
  3: 'lzo',
  4: 'xz',
  5: 'lz4',
  6: 'zstd',
} as const;
export type SquashfsCompression = (typeof SQUASHFS_COMPRESSIONS)[keyof typeof SQUASHFS_COMPRESSIONS];

export interface SquashfsInfo {
  compression: SquashfsCompression;
  /** bytes the filesystem occupies (the superblock's bytes_used); the file may be padded past it */
  bytesUsed: number;
  fileSize: number;
  inodeCount: number;
  /** the superblock's creation time, seconds since the epoch */
  mkfsTime: number;
  blockSize: number;
}

// The squashfs 4.0 superblock: 96 bytes, little-endian, at byte 0.
const SUPERBLOCK_BYTES = 96;
const MAGIC = Buffer.from('hsqs', 'latin1');
const INODE_COUNT = 4;
const MKFS_TIME = 8;
const BLOCK_SIZE = 12;
const COMPRESSION_ID = 20;
const BLOCK_LOG = 22;
const VERSION_MAJOR = 28;
const VERSION_MINOR = 30;
const BYTES_USED = 40;

/**
 * Checks that a file is a squashfs 4.0 image from its superblock alone (magic, version, a known
 * compressor, a filesystem that fits in the file) and reports what the superblock says.
 */
export async function inspectSquashfs(path: string): Promise<SquashfsInfo> {
  let handle: FileHandle;
  try {
    handle = await open(path, 'r');
  } catch (error) {
    throw addonsUnreadable(path, error);
  }
  try {
    let fileSize: number;
    let superblock: Buffer;
    try {
      const stat = await handle.stat();
      if (!stat.isFile())
        throw Object.assign(new Error('not a regular file'), {
          code: stat.isDirectory() ? 'EISDIR' : 'ENOTREG',
        });
      fileSize = stat.size;
      superblock = Buffer.alloc(Math.min(SUPERBLOCK_BYTES, fileSize));
      await handle.read(superblock, 0, superblock.length, 0);
    } catch (error) {
      throw addonsUnreadable(path, error);
    }
    return parseSuperblock(path, superblock, fileSize);
  } finally {
    await handle.close();
  }
}

function parseSuperblock(path: string, superblock: Buffer, fileSize: number): SquashfsInfo {
  if (fileSize === 0) throw addonsNotSquashfs(path, 'but the file is empty');
  if (!superblock.subarray(0, 4).equals(MAGIC)) {
    const hex = [...superblock.subarray(0, 4)].map((b) => b.toString(16).padStart(2, '0')).join(' ');
    throw addonsNotSquashfs(path, `found ${hex}`);
  }
  if (superblock.length < SUPERBLOCK_BYTES) {
    throw addonsInvalid(
      path,
      'ADDONS_TRUNCATED',
      `truncated: the squashfs superblock needs ${SUPERBLOCK_BYTES} bytes, the file has ${fileSize}`,
    );
  }
  const major = superblock.readUInt16LE(VERSION_MAJOR);
  const minor = superblock.readUInt16LE(VERSION_MINOR);
  if (major !== 4 || minor !== 0) {
    throw addonsInvalid(
      path,
      'ADDONS_VERSION_UNSUPPORTED',
      `squashfs version ${major}.${minor}; Linux mounts 4.0`,
    );
  }
  const compressionId = superblock.readUInt16LE(COMPRESSION_ID);
  const compression = SQUASHFS_COMPRESSIONS[compressionId as keyof typeof SQUASHFS_COMPRESSIONS];
  if (compression === undefined) {
    throw addonsInvalid(
      path,
      'ADDONS_COMPRESSION_UNKNOWN',
      `unknown compression id ${compressionId} (known: 1 gzip, 2 lzma, 3 lzo, 4 xz, 5 lz4, 6 zstd)`,
    );
  }
  const blockSize = superblock.readUInt32LE(BLOCK_SIZE);
  if (blockSize !== 2 ** superblock.readUInt16LE(BLOCK_LOG)) {
    throw addonsInvalid(
      path,
      'ADDONS_CORRUPT',
      `corrupt superblock: block_size ${blockSize} disagrees with block_log`,
    );
  }
  const bytesUsed = superblock.readBigUInt64LE(BYTES_USED);
  if (bytesUsed > BigInt(fileSize)) {
    throw addonsInvalid(
      path,
      'ADDONS_TRUNCATED',
      `truncated: the superblock says the filesystem uses ${bytesUsed} bytes, the file has ${fileSize}`,
    );
  }
  if (bytesUsed < BigInt(SUPERBLOCK_BYTES)) {
    throw addonsInvalid(
      path,
      'ADDONS_CORRUPT',
      `corrupt superblock: bytes_used ${bytesUsed} is smaller than the superblock`,
    );
  }
  return {
    compression,
    bytesUsed: Number(bytesUsed),
    fileSize,
    inodeCount: superblock.readUInt32LE(INODE_COUNT),
    mkfsTime: superblock.readUInt32LE(MKFS_TIME),
    blockSize,
  };
}
