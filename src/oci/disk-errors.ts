import { statfs } from 'node:fs/promises';
import { KartError } from '../errors.ts';

/**
 * A write that failed because the filesystem is full, out of inodes or over quota is the machine's
 * state, not damage in the image nor a bug in kart: its own code (exit 2), naming where kart was
 * writing and what to free. ENOSPC covers both bytes and inodes; statfs tells them apart.
 */
export async function diskError(error: unknown, path: string): Promise<KartError | undefined> {
  const code = errnoOf(error);
  if (code !== 'ENOSPC' && code !== 'EDQUOT') return undefined;
  const fs = await statfs(path).catch(() => undefined);
  if (code === 'ENOSPC' && fs !== undefined && fs.files > 0 && fs.ffree === 0) {
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

/** The errno code of an error or of what it wraps (a store reports ENOSPC inside its own KartError). */
function errnoOf(error: unknown): string | undefined {
  let current = error as { code?: unknown; cause?: unknown } | null | undefined;
  for (let depth = 0; depth < 4 && current; depth++) {
    if (current.code === 'ENOSPC' || current.code === 'EDQUOT') return current.code;
    current = current.cause as typeof current;
  }
  return undefined;
}
