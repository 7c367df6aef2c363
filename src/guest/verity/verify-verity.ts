import { resolve } from 'node:path';
import { SUPERBLOCK_SIZE, hashTreeGeometry } from './hash-tree-geometry.ts';
import { digestSize, saltedDigest, walkHashTree } from './hash-tree.ts';
import { blocksInFile, openForVerity } from './open-files.ts';
import { DEFAULT_BLOCK_SIZE } from './format-verity.ts';
import { parseSaltHex } from './salt.ts';
import { decodeSuperblock } from './superblock.ts';
import {
  verityHashTooShort,
  verityInvalid,
  verityMismatch,
  veritySuperblockInvalid,
} from './verity-errors.ts';
import { paramsOf, type VerityParams } from './verity-params.ts';

export interface VerityVerifyOptions {
  dataPath: string;
  hashPath: string;
  /** hex */
  rootHash: string;
  dataOffset?: number;
  hashOffset?: number;
  /** Read salt, block sizes, data blocks and algorithm from cryptsetup's superblock; default true. */
  superblock?: boolean;
  /** hex; required without a superblock */
  salt?: string;
  dataBlocks?: number;
  dataBlockSize?: number;
  hashBlockSize?: number;
  hashAlgorithm?: string;
}

/**
 * Checks every hash block against the data and the root hash against the top block, reading both
 * files once as streams (what `veritysetup verify` does). Resolves to the parameters it checked;
 * the first disagreement is VERITY_MISMATCH naming the level and block.
 */
export async function verifyVerity(options: VerityVerifyOptions): Promise<VerityParams> {
  if (!/^[0-9a-fA-F]+$/.test(options.rootHash) || options.rootHash.length % 2 !== 0) {
    throw verityInvalid(`root hash "${options.rootHash}" is not hex`, 'give the root hash format printed');
  }
  const dataOffset = options.dataOffset ?? 0;
  const hashOffset = options.hashOffset ?? 0;
  const sameFile = resolve(options.dataPath) === resolve(options.hashPath);
  const superblock = options.superblock ?? true;
  const data = await openForVerity(options.dataPath, 'r');
  const hash = await openForVerity(options.hashPath, 'r');
  try {
    let salt: Buffer;
    let dataBlockSize = options.dataBlockSize ?? DEFAULT_BLOCK_SIZE;
    let hashBlockSize = options.hashBlockSize ?? DEFAULT_BLOCK_SIZE;
    let hashAlgorithm = options.hashAlgorithm ?? 'sha256';
    let dataBlocks = options.dataBlocks;
    let uuid: string | undefined;
    if (superblock) {
      const bytes = Buffer.alloc(SUPERBLOCK_SIZE);
      const { bytesRead } = await hash.read(bytes, 0, SUPERBLOCK_SIZE, hashOffset);
      const sb = decodeSuperblock(bytes.subarray(0, bytesRead));
      if (typeof sb === 'string') throw veritySuperblockInvalid(options.hashPath, hashOffset, sb);
      ({ dataBlockSize, hashBlockSize, dataBlocks } = sb);
      hashAlgorithm = sb.algorithm;
      salt = sb.salt;
      uuid = sb.uuid;
    } else {
      if (options.salt === undefined) {
        throw verityInvalid(
          'verifying without a superblock needs the salt',
          'pass --salt HEX (format printed it)',
        );
      }
      salt = parseSaltHex(options.salt);
    }
    const blocks =
      dataBlocks ?? (await blocksInFile(data, dataOffset, dataBlockSize, sameFile ? hashOffset : undefined));
    const treeStartBlock = superblock ? Math.ceil(SUPERBLOCK_SIZE / hashBlockSize) : 0;
    const geometry = hashTreeGeometry({
      dataBlocks: blocks,
      dataBlockSize,
      hashBlockSize,
      digestSize: digestSize(hashAlgorithm),
      treeStartBlock,
    });
    const needed = hashOffset + (treeStartBlock + geometry.hashBlocks) * hashBlockSize;
    const { size } = await hash.stat();
    if (size < needed) throw verityHashTooShort(options.hashPath, needed, size);

    let scratch = Buffer.alloc(0);
    const rootHash = await walkHashTree(
      {
        handle: data,
        path: options.dataPath,
        offset: dataOffset,
        blocks,
        blockSize: dataBlockSize,
      },
      { handle: hash, path: options.hashPath, offset: hashOffset },
      geometry,
      saltedDigest(hashAlgorithm, salt),
      async (computed, position, level, firstBlock) => {
        if (scratch.length < computed.length) scratch = Buffer.alloc(computed.length);
        const onDisk = scratch.subarray(0, computed.length);
        await hash.read(onDisk, 0, computed.length, position);
        if (onDisk.equals(computed)) return;
        let block = 0;
        while (
          onDisk
            .subarray(block * hashBlockSize, (block + 1) * hashBlockSize)
            .equals(computed.subarray(block * hashBlockSize, (block + 1) * hashBlockSize))
        )
          block++;
        const index = firstBlock + block;
        const fan = geometry.digestsPerBlock ** (level.level + 1);
        throw verityMismatch(
          `${options.hashPath}: hash block ${index} of level ${level.level} does not match data blocks ${index * fan}..${Math.min(blocks, (index + 1) * fan) - 1} of ${options.dataPath}`,
          { level: level.level, hashBlock: index, offset: position + block * hashBlockSize },
        );
      },
    );
    if (rootHash.toString('hex') !== options.rootHash.toLowerCase()) {
      throw verityMismatch(
        `the root hash of ${options.hashPath} is ${rootHash.toString('hex')}, not ${options.rootHash}`,
        {
          expected: options.rootHash.toLowerCase(),
          actual: rootHash.toString('hex'),
        },
      );
    }
    return paramsOf(geometry, { rootHash, salt, hashAlgorithm, dataOffset, hashOffset, superblock, uuid });
  } finally {
    await Promise.all([data.close(), hash.close()]);
  }
}
