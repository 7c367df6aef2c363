import { statfs } from 'node:fs/promises';
import { KartError } from '../errors.ts';

/**
 * A write that failed because the filesystem is full, out of inodes or over quota is the machine's
 * state, not damage in the image nor a bug in kart: its own code (exit 2), naming where kart was
 * writing and what to free. ENOSPC covers both bytes and inodes; statfs tells them apart.
 */
export async function diskError(error: unknown, path: string): Promise<KartError | undefined> {
  const errno = errnoOf(error);
  if (errno === undefined) return undefined;
  const code = errno.code;
  const fs = await statfs(path).catch(() => undefined);
  // Creating a name fails with ENOSPC when the inode table is full (and the cleanup after the failure
  // may already have freed some, so statfs alone cannot tell); writing bytes fails when the blocks are.
  const creating = CREATING.has(errno.syscall ?? '');
  if (code === 'ENOSPC' && (creating || (fs !== undefined && fs.files > 0 && fs.ffree === 0))) {
    return new KartError('INODES_EXHAUSTED', `${path}: the filesystem has no free inodes left`, {
      exitCode: 2,
      hint: `remove files on the filesystem holding ${path}, or use a filesystem with more inodes; nothing was changed`,
      details: { path },
      cause: error,
    });
  }
  return new KartError(
    'DISK_FULL',
    `${path}: no space left on the filesystem${code === 'EDQUOT' ? ' (disk quota exceeded)' : ''}`,
    {
      exitCode: 2,
      hint: `free space on the filesystem holding ${path}, then retry; nothing was changed`,
      details: { path },
      cause: error,
    },
  );
}

/** Runs `work`; a full disk (or inode table) under `path` becomes DISK_FULL / INODES_EXHAUSTED. */
export async function withDiskErrors<T>(path: string, work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (error) {
    throw (await diskError(error, path)) ?? error;
  }
}

const CREATING = new Set(['open', 'mkdir', 'link', 'symlink', 'mknod', 'mkdtemp']);

/** The ENOSPC/EDQUOT of an error or of what it wraps (a store reports it inside its own KartError). */
function errnoOf(error: unknown): { code: string; syscall?: string } | undefined {
  let current = error as { code?: unknown; syscall?: unknown; cause?: unknown } | null | undefined;
  for (let depth = 0; depth < 4 && current; depth++) {
    if (current.code === 'ENOSPC' || current.code === 'EDQUOT') {
      return {
        code: current.code,
        ...(typeof current.syscall === 'string' ? { syscall: current.syscall } : {}),
      };
    }
    current = current.cause as typeof current;
  }
  return undefined;
}
