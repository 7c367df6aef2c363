import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { open, readFile, rename, stat, unlink } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { KartError } from '../errors.ts';
import { tempSiblingPath } from './atomic-file.ts';
import { backoffDelay } from './backoff.ts';

/**
 * Serialises read-modify-write of a layout's index.json: in one process through a promise chain per
 * directory, across processes through a lock file created with O_EXCL. The lock file names its owner:
 * host, pid and the process's start time, so a pid reused by another process is told apart. A lock
 * whose owner is gone (same host: pid not alive, or alive with another start time) is taken over at
 * once; a lock of a live owner on this host is never taken, however long it is held (an install or a
 * download may take minutes); only a lock of another host, or one that names no start time, is taken
 * once older than `staleMs`, so a crashed pack does not block the layout forever. Only index.json updates hold it, for milliseconds; blobs are
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
  /** the owner's start time (Linux: clock ticks since boot, /proc/PID/stat field 22) */
  started?: number;
}

async function withLockFile<T>(dir: string, work: () => Promise<T>, options: LayoutLockOptions): Promise<T> {
  const lockPath = join(dir, LOCK_FILE_NAME);
  const timeoutMs = options.timeoutMs ?? 30_000;
  const staleMs = options.staleMs ?? 60_000;
  const deadline = Date.now() + timeoutMs;
  const started = processStartTime(process.pid);
  const me: LockOwner = {
    pid: process.pid,
    host: hostname(),
    created: Date.now(),
    ...(started === undefined ? {} : { started }),
  };
  for (let attempt = 0; ; attempt++) {
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
    await delay(backoffDelay({ firstMs: 5, maxMs: 100 }, attempt));
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
  const local = owner.host === hostname() && typeof owner.pid === 'number';
  const ownerGone = local && !ownerAlive(owner.pid!, owner.started);
  // A live owner here keeps its lock however old; age decides only what cannot be checked.
  if (local && !ownerGone && typeof owner.started === 'number') return false;
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

/** The owner is running: its pid is alive and, when the lock recorded it, started when it did. */
function ownerAlive(pid: number, started: number | undefined): boolean {
  if (!processAlive(pid)) return false;
  if (started === undefined) return true;
  const now = processStartTime(pid);
  return now === undefined || now === started;
}

/** When a process started (Linux /proc, clock ticks since boot); undefined where that is unknown. */
export function processStartTime(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
    // The command name (field 2) may hold spaces and parentheses: fields are counted after its last ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const value = Number(fields[19]);
    return Number.isSafeInteger(value) ? value : undefined;
  } catch {
    return undefined;
  }
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
