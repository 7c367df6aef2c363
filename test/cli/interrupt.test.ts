/**
 * Ctrl-C during a transfer aborts it through the library's AbortSignal: `kart pull -k`, stopped by
 * SIGINT while a blob is downloading (held there by the test pause point), exits 2 with ABORTED,
 * installs nothing and leaves nothing in the cache, not even a temp file.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { packKernel } from '../../src/kernel/artifact/index.ts';
import { openLayout } from '../../src/oci/layout.ts';
import { copyReference } from '../../src/registry/index.ts';
import { debianKernelPaths } from '../support/debian-kernels.ts';
import { KART } from '../support/kart-cli.ts';
import { startRegistry, type TestRegistry } from '../support/registry.ts';
import { leftoverTempFiles } from '../support/temp-files.ts';

let registry: TestRegistry;
let work: string;

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'kart-interrupt-'));
  registry = await startRegistry();
  const debian = debianKernelPaths('amd64');
  await packKernel(
    { kernel: debian.vmlinuz, config: debian.config, flavor: 'host', noCheck: true, tags: ['a'] },
    await openLayout(join(work, 'layout'), { create: true }),
  );
  await copyReference(`oci:${join(work, 'layout')}:a`, `${registry.host}/interrupt/kernel:a`);
});

afterAll(async () => {
  await registry?.stop();
  rmSync(work, { recursive: true, force: true });
});

describe('Ctrl-C', () => {
  it('pull -k interrupted mid-download: exit 2 ABORTED, no install, an empty cache', async () => {
    const pauseDir = mkdtempSync(join(work, 'pause-'));
    const dest = join(work, 'boot');
    const cache = join(work, 'cache');
    const child = spawn(
      process.execPath,
      [
        KART,
        'pull',
        '-k',
        `${registry.host}/interrupt/kernel:a`,
        '--dest',
        dest,
        '--cache',
        cache,
        '--arch',
        'amd64',
        '--json',
      ],
      {
        stdio: ['ignore', 'pipe', 'pipe'],
        env: { ...process.env, KART_TEST_PAUSE_AT: 'download', KART_TEST_PAUSE_DIR: pauseDir },
      },
    );
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    const exited = new Promise<number | null>((done) => child.on('close', done));
    const deadline = Date.now() + 30_000;
    while (!existsSync(join(pauseDir, 'download.reached'))) {
      if (Date.now() > deadline) throw new Error(`the pull never reached its download: ${stderr}`);
      await delay(10);
    }
    child.kill('SIGINT');
    // Let the pause point go, so the (destroyed) download's gate has nothing left to wait for.
    await delay(50);
    writeFileSync(join(pauseDir, 'download.continue'), '');
    expect(await exited).toBe(2);
    expect(JSON.parse(stdout).error.code).toBe('ABORTED');
    expect(stderr).toContain('kart: interrupted; stopping without changing anything');
    expect(existsSync(dest)).toBe(false);
    expect(readdirSync(join(cache, 'blobs', 'sha256'))).toEqual([]);
    expect(leftoverTempFiles(cache)).toEqual([]);
  });
});
