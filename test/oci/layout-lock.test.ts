import { execFile, spawn } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  renameSync,
  rmSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { LOCK_FILE_NAME, withLayoutLock, type LayoutLockOptions } from '../../src/oci/layout-lock.ts';
import { localScope, processStartTime } from '../../src/oci/process-owner.ts';

const LAYOUT_LOCK = resolve(import.meta.dirname, '../../src/oci/layout-lock.ts');
const root = mkdtempSync(join(tmpdir(), 'kart-layout-lock-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
let dirs = 0;
function fresh(): string {
  const dir = join(root, `d${++dirs}`);
  mkdirSync(dir);
  return dir;
}

/** Another kart process trying the lock: prints TOOK, or the error code it failed with. */
function contender(dir: string, options: LayoutLockOptions): Promise<string> {
  const script = `const m = await import(${JSON.stringify(LAYOUT_LOCK)}); try { await m.withLayoutLock(${JSON.stringify(dir)}, async () => {}, ${JSON.stringify(options)}); console.log('TOOK'); } catch (e) { console.log(e.code ?? String(e)); }`;
  return new Promise((done, fail) => {
    // Asynchronous on purpose: the holder's heartbeat runs in this process's event loop meanwhile.
    execFile(process.execPath, ['--input-type=module', '-e', script], (error, stdout) =>
      error ? fail(error) : done(stdout.trim()),
    );
  });
}

async function deadPid(): Promise<number> {
  const child = spawn(process.execPath, ['-e', ''], { stdio: 'ignore' });
  await new Promise((done) => child.on('exit', done));
  return child.pid!;
}

/** Rewrites the held lock's record in place (same file), as an owner elsewhere would have written it. */
function claim(dir: string, owner: object): void {
  writeFileSync(join(dir, LOCK_FILE_NAME), JSON.stringify({ created: Date.now(), ...owner }));
}

describe('layout lock heartbeat', () => {
  const short = { staleMs: 300, refreshMs: 50 };

  it('a live owner on another host keeps its lock past the stale period while it refreshes it', async () => {
    const dir = fresh();
    const outcome = await withLayoutLock(
      dir,
      async () => {
        claim(dir, { pid: 1, host: 'elsewhere.example', started: 1, boot: 'another-boot', pidns: 'pid:[1]' });
        // The contender waits five stale periods; the holder's mtime stays younger than one.
        return contender(dir, { timeoutMs: 1_500, staleMs: 300 });
      },
      short,
    );
    expect(outcome).toBe('LAYOUT_LOCKED');
    expect(existsSync(join(dir, LOCK_FILE_NAME))).toBe(false);
  });

  it('same hostname and boot, another pid namespace: the pid is not judged here, the heartbeat keeps the lock', async () => {
    const dir = fresh();
    // In its own namespace the owner's pid is one that, in ours, has exited.
    const pid = await deadPid();
    const outcome = await withLayoutLock(
      dir,
      async () => {
        claim(dir, { pid, host: hostname(), started: 7, boot: localScope().boot, pidns: 'pid:[4026599999]' });
        return contender(dir, { timeoutMs: 1_500, staleMs: 300 });
      },
      short,
    );
    expect(outcome).toBe('LAYOUT_LOCKED');
  });

  it('an owner that stopped refreshing (another namespace) is taken once not refreshed for the stale period', async () => {
    const dir = fresh();
    writeFileSync(
      join(dir, LOCK_FILE_NAME),
      JSON.stringify({ pid: 1, host: hostname(), created: Date.now(), ...localScope(), pidns: 'pid:[1]' }),
    );
    const planted = Date.now();
    const ran = await withLayoutLock(dir, async () => Date.now(), { timeoutMs: 5_000, staleMs: 400 });
    // Taken only after the planted mtime aged past staleMs (less the file system's timestamp granularity).
    expect(ran - planted).toBeGreaterThanOrEqual(350);
    expect(existsSync(join(dir, LOCK_FILE_NAME))).toBe(false);
  });

  it('a never-refreshed lock of another host already past the stale period is taken at once', async () => {
    const dir = fresh();
    const path = join(dir, LOCK_FILE_NAME);
    writeFileSync(
      path,
      JSON.stringify({ pid: 1, host: 'elsewhere.example', boot: 'another-boot', pidns: 'pid:[1]' }),
    );
    const then = (Date.now() - 1_000) / 1000;
    utimesSync(path, then, then);
    expect(await withLayoutLock(dir, async () => true, { timeoutMs: 0, staleMs: 500 })).toBe(true);
  });

  it('a dead owner of this boot and pid namespace is taken at once, however fresh its lock', async () => {
    const dir = fresh();
    const pid = await deadPid();
    writeFileSync(
      join(dir, LOCK_FILE_NAME),
      JSON.stringify({ pid, host: hostname(), started: processStartTime(process.pid), ...localScope() }),
    );
    expect(await withLayoutLock(dir, async () => true, { timeoutMs: 0, staleMs: 60_000 })).toBe(true);
  });

  it('a holder whose lock was taken over leaves its successor lock in place when it ends', async () => {
    const dir = fresh();
    const path = join(dir, LOCK_FILE_NAME);
    const successor = JSON.stringify({ pid: 1, host: 'elsewhere.example', created: 1 });
    await withLayoutLock(
      dir,
      async () => {
        renameSync(path, join(dir, 'moved-aside'));
        writeFileSync(path, successor);
      },
      short,
    );
    expect(readFileSync(path, 'utf8')).toBe(successor);
  });
});
