/**
 * The 96-byte squashfs 4.0 superblock that pack's addons check reads (magic, version, compressor,
 * block size, bytes_used), for synthetic addons images of any size in tests and the bench.
 */
export function squashfsSuperblock(bytesUsed: number, mkfsTime = 0): Buffer {
  const superblock = Buffer.alloc(96);
  superblock.write('hsqs', 0, 'latin1');
  superblock.writeUInt32LE(1, 4); // inode_count
  superblock.writeUInt32LE(mkfsTime, 8); // mkfs_time
  superblock.writeUInt32LE(131_072, 12); // block_size
  superblock.writeUInt16LE(4, 20); // compression: xz
  superblock.writeUInt16LE(17, 22); // block_log
  superblock.writeUInt16LE(4, 28); // version 4.0
  superblock.writeBigUInt64LE(BigInt(bytesUsed), 40); // bytes_used
  return superblock;
}
