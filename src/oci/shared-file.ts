import { constants } from 'node:fs';
import { copyFile, link } from 'node:fs/promises';

/**
 * A copy of a file that shares its blocks (a reflink: XFS, btrfs), so its bytes are not written
 * again, yet the two stay separate files: a later change to one does not reach the other. False where
 * the filesystem has none (ext4, tmpfs), or the source cannot be cloned: the caller writes a copy.
 * `to` must not exist; a failed clone leaves no file (libuv removes it).
 */
export async function reflinkFile(from: string, to: string): Promise<boolean> {
  try {
    // FICLONE or nothing: a plain copy would write the bytes again, what this is for avoiding.
    await copyFile(from, to, constants.COPYFILE_FICLONE_FORCE | constants.COPYFILE_EXCL);
    return true;
  } catch {
    return false;
  }
}

/**
 * A second name for a file's bytes without writing them again: a reflink where the filesystem offers
 * one, else a hard link (one file under two names: a change to either is a change to both). Undefined
 * where neither can be made (another filesystem, one without links): the caller writes a copy.
 */
export async function shareFile(from: string, to: string): Promise<'reflink' | 'hardlink' | undefined> {
  if (await reflinkFile(from, to)) return 'reflink';
  try {
    await link(from, to);
    return 'hardlink';
  } catch (error) {
    if (isUnlinkable(error)) return undefined;
    throw error;
  }
}

/** link(2) failures that mean "not here": another filesystem, or one without hard links. */
const UNLINKABLE = new Set(['EXDEV', 'EPERM', 'EMLINK', 'ENOTSUP', 'EOPNOTSUPP']);

export function isUnlinkable(error: unknown): boolean {
  return UNLINKABLE.has((error as NodeJS.ErrnoException).code ?? '');
}
