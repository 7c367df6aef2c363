import { open, type FileHandle } from 'node:fs/promises';
import { verityIo } from './verity-errors.ts';

export async function openForVerity(path: string, flags: 'r' | 'r+' | 'wx+'): Promise<FileHandle> {
  try {
    return await open(path, flags, 0o644);
  } catch (error) {
    throw verityIo(path, error as NodeJS.ErrnoException);
  }
}

/**
 * The default data size: whole blocks from `offset` to the end of the file, or, when the tree lives
 * later in the same file, up to where the hash device starts (an image holding both partitions).
 */
export async function blocksInFile(
  handle: FileHandle,
  offset: number,
  blockSize: number,
  sameFileHashOffset?: number,
): Promise<number> {
  const { size } = await handle.stat();
  const end =
    sameFileHashOffset !== undefined && sameFileHashOffset > offset
      ? Math.min(size, sameFileHashOffset)
      : size;
  return Math.max(0, Math.floor((end - offset) / blockSize));
}
