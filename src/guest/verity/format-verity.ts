import { resolve } from 'node:path';
import { rename, stat, unlink } from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import { syncDirectory, tempSiblingPath } from '../../oci/atomic-file.ts';
import { dirname } from 'node:path';
import { derivedUuid } from '../derived-uuid.ts';
import { hashTreeGeometry, SUPERBLOCK_SIZE } from './hash-tree-geometry.ts';
import { digestSize, saltedDigest, walkHashTree } from './hash-tree.ts';
import { blocksInFile, openForVerity } from './open-files.ts';
import { resolveSalt, type SaltChoice } from './salt.ts';
import { encodeSuperblock, isUuid } from './superblock.ts';
import { verityInvalid } from './verity-errors.ts';
import { paramsOf, type VerityParams } from './verity-params.ts';

export interface VerityFormatOptions {
  dataPath: string;
  hashPath: string;
  /** Byte offset of the data in `dataPath` (a partition inside an image); default 0. */
  dataOffset?: number;
  /** Default: every whole block from `dataOffset` to the end of the file. */
  dataBlocks?: number;
  /** Byte offset of the hash device in `hashPath`; default 0. */
  hashOffset?: number;
  dataBlockSize?: number;
  hashBlockSize?: number;
  hashAlgorithm?: string;
  /** Default `content`: the same data always gets the same salt and root hash. */
  salt?: SaltChoice;
  /** Write cryptsetup's 512-byte superblock before the tree (veritysetup's default); default true. */
  superblock?: boolean;
  /** The superblock's UUID; default derived from the root hash, so a rebuild is byte-identical. */
  uuid?: string;
}

export const DEFAULT_BLOCK_SIZE = 4096;

function checkOffset(name: string, value: number, blockSize: number): void {
  if (!Number.isSafeInteger(value) || value < 0 || value % 512 !== 0) {
    throw verityInvalid(`${name} ${value} is not a non-negative multiple of 512`, `align it to ${blockSize}`);
  }
}

async function writeAll(handle: FileHandle, bytes: Buffer, position: number): Promise<void> {
  let done = 0;
  while (done < bytes.length) {
    const { bytesWritten } = await handle.write(bytes, done, bytes.length - done, position + done);
    done += bytesWritten;
  }
}

/**
 * Computes the dm-verity hash tree of the data and writes it to the hash file, the way
 * `veritysetup format` does (byte-identical given the same salt and UUID). A hash file that does not
 * exist yet is written to a temp sibling and renamed into place, so it appears whole or not at all;
 * an existing one (a partition inside an image) is written in place, like veritysetup.
 */
export async function formatVerity(options: VerityFormatOptions): Promise<VerityParams> {
  const dataBlockSize = options.dataBlockSize ?? DEFAULT_BLOCK_SIZE;
  const hashBlockSize = options.hashBlockSize ?? DEFAULT_BLOCK_SIZE;
  const hashAlgorithm = options.hashAlgorithm ?? 'sha256';
  const dataOffset = options.dataOffset ?? 0;
  const hashOffset = options.hashOffset ?? 0;
  const sameFile = resolve(options.dataPath) === resolve(options.hashPath);
  const superblock = options.superblock ?? true;
  checkOffset('data offset', dataOffset, dataBlockSize);
  checkOffset('hash offset', hashOffset, hashBlockSize);
  if (options.uuid !== undefined && !isUuid(options.uuid)) {
    throw verityInvalid(`UUID "${options.uuid}" is not of the form 8-4-4-4-12 hex digits`, 'or leave it out');
  }
  const size = digestSize(hashAlgorithm);
  const data = await openForVerity(options.dataPath, 'r');
  try {
    const dataBlocks =
      options.dataBlocks ??
      (await blocksInFile(data, dataOffset, dataBlockSize, sameFile ? hashOffset : undefined));
    const treeStartBlock = superblock ? Math.ceil(SUPERBLOCK_SIZE / hashBlockSize) : 0;
    const geometry = hashTreeGeometry({
      dataBlocks,
      dataBlockSize,
      hashBlockSize,
      digestSize: size,
      treeStartBlock,
    });
    const range = {
      handle: data,
      path: options.dataPath,
      offset: dataOffset,
      blocks: dataBlocks,
      blockSize: dataBlockSize,
    };
    const salt = await resolveSalt(options.salt ?? 'content', range);
    const digest = saltedDigest(hashAlgorithm, salt);

    const exists = await stat(options.hashPath).then(
      () => true,
      () => false,
    );
    const target = exists ? options.hashPath : tempSiblingPath(options.hashPath);
    const hash = await openForVerity(target, exists ? 'r+' : 'wx+');
    let uuid: string | undefined;
    let rootHash: Buffer;
    try {
      rootHash = await walkHashTree(
        range,
        { handle: hash, path: target, offset: hashOffset },
        geometry,
        digest,
        (bytes, position) => writeAll(hash, bytes, position),
      );
      if (superblock) {
        uuid = options.uuid ?? derivedUuid('kart dm-verity uuid v1\n', rootHash);
        const sb = encodeSuperblock({
          hashType: 1,
          uuid,
          algorithm: hashAlgorithm,
          dataBlockSize,
          hashBlockSize,
          dataBlocks,
          salt,
        });
        await writeAll(hash, sb, hashOffset);
      }
      // Like veritysetup, a new hash file ends where the tree does (a superblock alone still fills its block).
      if (!exists) await hash.truncate(hashOffset + (treeStartBlock + geometry.hashBlocks) * hashBlockSize);
      await hash.sync();
    } catch (error) {
      await hash.close().catch(() => undefined);
      if (!exists) await unlink(target).catch(() => undefined);
      throw error;
    }
    await hash.close();
    if (!exists) {
      await rename(target, options.hashPath).catch(async (error: unknown) => {
        await unlink(target).catch(() => undefined);
        throw error;
      });
      await syncDirectory(dirname(options.hashPath));
    }
    return paramsOf(geometry, { rootHash, salt, hashAlgorithm, dataOffset, hashOffset, superblock, uuid });
  } finally {
    await data.close();
  }
}
