import { hostname } from 'node:os';
import { open, readFile, rename, stat, unlink, type FileHandle } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { KartError } from '../errors.ts';
import { tempSiblingPath } from './atomic-file.ts';
import { currentOwner, ownerRunning, type ProcessOwner } from './process-owner.ts';

export { processAlive, processStartTime } from './process-owner.ts';
import { backoffDelay } from './backoff.ts';
import { throwIfAborted } from './transfer-observer.ts';

/**
 * Serialises read-modify-write of a layout's index.json (and an install area, a download): in one
 * process through a promise chain per directory, across processes through a lock file created with
 * O_EXCL. The lock file names its owner (pid, start time, boot id, pid namespace; see process-owner.ts)
 * and its holder refreshes the file's mtime every `refreshMs` for as long as it holds it.
 *
 * A waiter takes a lock over in two cases only: its owner runs in the waiter's own boot and pid
 * namespace and is gone (pid free, or reused by a process started at another time), at once; or the
 * owner cannot be checked by pid (another machine, a container with its own pid namespace even under
 * the same hostname, a half-written record) and the lock has not been refreshed for `staleMs`. A live
 * holder is thus never robbed, however long its install or download runs, and a dead one blocks
 * others for `staleMs` at most.
 *
 * Why a heartbeat rather than flock(2), which the kernel would release when its owner dies: Node has
 * no flock in core; `fs-ext`, the binding that offers it, is a native addon no longer maintained, and
 * flock is unreliable on the network filesystems a shared cache may sit on. `proper-lockfile` keeps
 * its lock alive the same way (mkdir and an mtime refresh) but records no owner, so a crashed pull on
 * this host would block the next one for the whole stale period instead of none; it would also change
 * the lock's shape on disk that other kart versions read. The heartbeat needs only the clocks of the
 * hosts sharing a directory to agree to within `staleMs`.
 */
export const LOCK_FILE_NAME = '.kart-index.lock';

export interface LayoutLockOptions {
  /** Give up after this long (LAYOUT_LOCKED). Default 30 s. */
  timeoutMs?: number;
  /**
   * A lock whose owner cannot be checked by pid is stale once not refreshed for this long. Default 60 s.
   */
  staleMs?: number;
  /** How often the holder refreshes its lock's mtime. Default a sixth of `staleMs`. */
  refreshMs?: number;
  /** Stop waiting for another process's lock (ABORTED): a wait can last as long as its download. */
  signal?: AbortSignal;
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

interface LockOwner extends ProcessOwner {
  /** for people reading the file: the owner's hostname, and when it took the lock */
  host: string;
  created: number;
}

async function withLockFile<T>(dir: string, work: () => Promise<T>, options: LayoutLockOptions): Promise<T> {
  const lockPath = join(dir, LOCK_FILE_NAME);
  const timeoutMs = options.timeoutMs ?? 30_000;
  const staleMs = options.staleMs ?? 60_000;
  const refreshMs = options.refreshMs ?? Math.max(1, Math.floor(staleMs / 6));
  const deadline = Date.now() + timeoutMs;
  const me: LockOwner = { ...currentOwner(), host: hostname(), created: Date.now() };
  let handle: FileHandle;
  for (let attempt = 0; ; attempt++) {
    try {
      handle = await open(lockPath, 'wx', 0o644);
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
    throwIfAborted(options.signal);
    await delay(backoffDelay({ firstMs: 5, maxMs: 100 }, attempt));
  }
  const heartbeat = new Heartbeat(handle, refreshMs);
  try {
    await handle.writeFile(JSON.stringify(me));
    return await work();
  } finally {
    await heartbeat.stop();
    await releaseIfOurs(lockPath, handle);
  }
}

/**
 * Refreshes the lock file's mtime through the holder's own descriptor, so that it never refreshes a
 * lock that replaced its own. A failed refresh is left to the next tick: the lock goes stale only
 * after `staleMs` without one.
 */
class Heartbeat {
  readonly #timer: NodeJS.Timeout;
  #pending: Promise<void> = Promise.resolve();

  constructor(handle: FileHandle, periodMs: number) {
    this.#timer = setInterval(() => {
      this.#pending = this.#pending.then(() => {
        const now = new Date();
        return handle.utimes(now, now).catch(() => undefined);
      });
    }, periodMs);
    // The work holding the lock keeps the process alive, not its heartbeat.
    this.#timer.unref();
  }

  async stop(): Promise<void> {
    clearInterval(this.#timer);
    await this.#pending;
  }
}

/** Removes the lock file only while it is still the one this holder created, then closes it. */
async function releaseIfOurs(lockPath: string, handle: FileHandle): Promise<void> {
  try {
    const [mine, there] = await Promise.all([handle.stat(), stat(lockPath)]);
    if (mine.ino === there.ino && mine.dev === there.dev) await unlink(lockPath);
  } catch {
    // gone already: taken over after it went stale, or removed by hand
  } finally {
    await handle.close().catch(() => undefined);
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
  const running = ownerRunning(owner);
  // An owner checked by pid decides; one that cannot be checked keeps its lock while it refreshes it.
  if (running === true) return false;
  if (running === undefined && Date.now() - modified < staleMs) return false;
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
