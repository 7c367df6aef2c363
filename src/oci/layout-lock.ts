import { hostname } from 'node:os';
import { open, readFile, rename, stat, unlink } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { KartError } from '../errors.ts';
import { tempSiblingPath } from './atomic-file.ts';

/**
 * Serialises read-modify-write of a layout's index.json: in one process through a promise chain per
 * directory, across processes through a lock file created with O_EXCL. A lock whose owner process is
 * gone (same host, pid not alive) or that is older than `staleMs` is taken over, so a crashed pack
 * does not block the layout forever. Only index.json updates hold it, for milliseconds; blobs are
 * content-addressed and need no lock.
 */
export const LOCK_FILE_NAME = '.kart-index.lock';

export interface LayoutLockOptions {
  /** Give up after this long (LAYOUT_LOCKED). Default 30 s. */
  timeoutMs?: number;
  /** A lock file older than this is stale whoever owns it. Default 60 s. */
  staleMs?: number;
}

const chains = new Map<string, Promise<unknown>>();

export async function withLayoutLock<T>(
  dir: string,
  work: () => Promise<T>,
  options: LayoutLockOptions = {},
): Promise<T> {
  const key = resolve(dir);
  const previous = chains.get(key) ?? Promise.resolve();
  const run = previous.catch(() => undefined).then(() => withLockFile(key, work, options));
  const settled = run.catch(() => undefined);
  chains.set(key, settled);
  try {
    return await run;
  } finally {
    if (chains.get(key) === settled) chains.delete(key);
  }
}

interface LockOwner {
  pid: number;
  host: string;
  created: number;
}

async function withLockFile<T>(dir: string, work: () => Promise<T>, options: LayoutLockOptions): Promise<T> {
  const lockPath = join(dir, LOCK_FILE_NAME);
  const timeoutMs = options.timeoutMs ?? 30_000;
  const staleMs = options.staleMs ?? 60_000;
  const deadline = Date.now() + timeoutMs;
  const me: LockOwner = { pid: process.pid, host: hostname(), created: Date.now() };
  let pause = 5;
  for (;;) {
    try {
      const handle = await open(lockPath, 'wx', 0o644);
      try {
        await handle.writeFile(JSON.stringify(me));
      } finally {
        await handle.close();
      }
      break;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
    if (await takeOverIfStale(lockPath, staleMs)) continue;
    if (Date.now() >= deadline) {
      throw new KartError('LAYOUT_LOCKED', `layout ${dir} is locked by another process (${lockPath})`, {
        hint: `another kart is updating this layout; if none is running, delete ${lockPath}`,
      });
    }
    await delay(pause);
    pause = Math.min(pause * 2, 100);
  }
  try {
    return await work();
  } finally {
    await unlink(lockPath).catch(() => undefined);
  }
}

/** Removes a stale lock; true when the caller should try again at once. */
async function takeOverIfStale(lockPath: string, staleMs: number): Promise<boolean> {
  let owner: Partial<LockOwner> = {};
  let modified: number;
  try {
    const [text, info] = await Promise.all([readFile(lockPath, 'utf8'), stat(lockPath)]);
    modified = info.mtimeMs;
    try {
      owner = JSON.parse(text) as Partial<LockOwner>;
    } catch {
      // Half-written by an owner that is still writing it, or by one that died meanwhile: age decides.
    }
  } catch {
    return true; // it vanished between our open and read: try again
  }
  const ownerGone = owner.host === hostname() && typeof owner.pid === 'number' && !processAlive(owner.pid);
  if (!ownerGone && Date.now() - modified < staleMs) return false;
  // Move it aside rather than unlink: of two processes racing over one stale lock, one rename wins.
  // (A narrow window remains where a slow racer moves aside a lock just re-created by the winner;
  // only when the owner had crashed, and it costs at worst one lost update, never a corrupt file.)
  try {
    const aside = tempSiblingPath(lockPath);
    await rename(lockPath, aside);
    await unlink(aside).catch(() => undefined);
  } catch {
    // someone else took it over first
  }
  return true;
}

/** Whether a process of this host is still running (EPERM: it is, but belongs to someone else). */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}
