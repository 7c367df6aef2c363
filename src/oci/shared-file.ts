import { constants } from 'node:fs';
import { copyFile, link } from 'node:fs/promises';

/**
 * A second name for a file's bytes without writing them again: a reflink where the filesystem offers
 * one (XFS, btrfs: the same blocks, yet two files, so a later change to one does not reach the other),
 * else a hard link (one file under two names). Undefined where neither can be made (another
 * filesystem, one without links): the caller writes a copy. `to` must not exist.
 */
export async function shareFile(from: string, to: string): Promise<'reflink' | 'hardlink' | undefined> {
  try {
    // FICLONE or nothing: a plain copy would write the bytes again, what this is for avoiding.
    await copyFile(from, to, constants.COPYFILE_FICLONE_FORCE | constants.COPYFILE_EXCL);
    return 'reflink';
  } catch {
    // No reflinks here (ext4, tmpfs: ENOTSUP); libuv leaves no file behind.
  }
  try {
    await link(from, to);
    return 'hardlink';
  } catch (error) {
    if (UNLINKABLE.has((error as NodeJS.ErrnoException).code ?? '')) return undefined;
    throw error;
  }
}

/** link(2) failures that mean "not here": another filesystem, or one without hard links. */
const UNLINKABLE = new Set(['EXDEV', 'EPERM', 'EMLINK', 'ENOTSUP', 'EOPNOTSUPP']);

export function isUnlinkable(error: unknown): boolean {
  return UNLINKABLE.has((error as NodeJS.ErrnoException).code ?? '');
}
