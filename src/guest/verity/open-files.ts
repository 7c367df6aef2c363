import { open, type FileHandle } from 'node:fs/promises';
import { verityIo } from './verity-errors.ts';

export async function openForVerity(path: string, flags: 'r' | 'r+' | 'wx+'): Promise<FileHandle> {
  try {
    return await open(path, flags, 0o644);
  } catch (error) {
    throw verityIo(path, error as NodeJS.ErrnoException);
  }
}

/** Whole data blocks from `offset` to the end of the file. */
export async function blocksInFile(handle: FileHandle, offset: number, blockSize: number): Promise<number> {
  const { size } = await handle.stat();
  return Math.max(0, Math.floor((size - offset) / blockSize));
}
