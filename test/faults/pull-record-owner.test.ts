import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { PULLS_DIR, recordPull, runningPullRoots } from '../../src/kernel/cache/pull-records.ts';
import { localScope, processStartTime } from '../../src/oci/process-owner.ts';
import type { Descriptor } from '../../src/oci/schema.ts';

// Prune keeps the roots of pulls still running; whether one runs is told the way a lock's owner is.
const root: Descriptor = {
  mediaType: 'application/vnd.oci.image.index.v1+json',
  digest: `sha256:${'ab'.repeat(32)}`,
  size: 321,
};
const work = mkdtempSync(join(tmpdir(), 'kart-pull-records-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));
let caches = 0;

function cacheWith(owner: object): string {
  const dir = join(work, `cache${++caches}`);
  mkdirSync(join(dir, PULLS_DIR), { recursive: true });
  writeFileSync(join(dir, PULLS_DIR, 'record.json'), JSON.stringify({ host: hostname(), ...owner, root }));
  return dir;
}

describe('pull records know their owner', () => {
  const children: ChildProcess[] = [];
  afterEach(() => {
    for (const child of children.splice(0)) child.kill('SIGKILL');
  });
  function liveProcess(): number {
    const child = spawn('sleep', ['60'], { stdio: 'ignore' });
    children.push(child);
    return child.pid!;
  }

  it('records its pull with pid, start time, boot and pid namespace, and keeps it while that pull runs', async () => {
    const dir = join(work, 'own');
    const path = await recordPull(dir, root);
    expect(JSON.parse(readFileSync(path, 'utf8'))).toEqual({
      pid: process.pid,
      started: processStartTime(process.pid),
      ...localScope(),
      host: hostname(),
      root,
    });
    expect(await runningPullRoots(dir)).toEqual([root]);
  });

  it('a record whose pid now names a process started at another time is dropped', async () => {
    const pid = liveProcess();
    const dir = cacheWith({ pid, started: (processStartTime(pid) ?? 0) - 12345, ...localScope() });
    expect(await runningPullRoots(dir)).toEqual([]);
    expect(readdirSync(join(dir, PULLS_DIR))).toEqual([]);
  });

  it('a record of a live pull here is kept', async () => {
    const pid = liveProcess();
    const dir = cacheWith({ pid, started: processStartTime(pid), ...localScope() });
    expect(await runningPullRoots(dir)).toEqual([root]);
  });

  it('a fresh record of another pid namespace under this hostname is kept, though its pid is free here', async () => {
    const dead = spawn(process.execPath, ['-e', ''], { stdio: 'ignore' });
    await new Promise((done) => dead.on('exit', done));
    const dir = cacheWith({ pid: dead.pid, started: 7, ...localScope(), pidns: 'pid:[4026599999]' });
    expect(await runningPullRoots(dir)).toEqual([root]);
    expect(readdirSync(join(dir, PULLS_DIR))).toEqual(['record.json']);
  });
});
