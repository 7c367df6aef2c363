/**
 * The live progress display through a real pseudo-terminal (util-linux `script`), for push and pull -k
 * against the real registry: per-blob and total lines on the terminal; nothing on a pipe; nothing with
 * --quiet; --json output unchanged.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { packKernel } from '../../src/kernel/artifact/index.ts';
import { openLayout } from '../../src/oci/layout.ts';
import { debianKernelPaths } from '../support/debian-kernels.ts';
import { KART, runKart } from '../support/kart-cli.ts';
import { startRegistry, type TestRegistry } from '../support/registry.ts';

let registry: TestRegistry;
let work: string;
let kernelDigest: string;

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'kart-tty-'));
  registry = await startRegistry();
  const debian = debianKernelPaths('amd64');
  const packed = await packKernel(
    { kernel: debian.vmlinuz, config: debian.config, flavor: 'host', noCheck: true, tags: ['a'] },
    await openLayout(join(work, 'layout'), { create: true }),
  );
  kernelDigest = packed.files.find((f) => f.path === 'kernel/image')!.layer.digest;
});

afterAll(async () => {
  await registry?.stop();
  rmSync(work, { recursive: true, force: true });
});

/** Runs kart with stdin/stdout/stderr on a pseudo-terminal; returns what the terminal showed. */
function onTerminal(args: string[]): { code: number | null; screen: string } {
  const command = [process.execPath, KART, ...args].map((a) => `'${a.replaceAll("'", "'\\''")}'`).join(' ');
  const run = spawnSync('script', ['-qfec', command, '/dev/null'], { encoding: 'utf8' });
  return { code: run.status, screen: run.stdout };
}

const short = () => kernelDigest.slice(0, 19);
const ESC = '\u001b';

describe('progress on a terminal', () => {
  it('push: a live line for the kernel blob and the total, then its done line', () => {
    const run = onTerminal(['push', `oci:${join(work, 'layout')}:a`, `${registry.host}/tty/kernel:a`]);
    expect(run.code, run.screen).toBe(0);
    // Each live line is drawn after an erase-line sequence.
    const drawn = run.screen.split(`${ESC}[2K`);
    expect(
      drawn.some((line) => new RegExp(`^  ${short()}  [0-9.]+ [KMG]?i?B / [0-9.]+ MiB`).test(line)),
    ).toBe(true);
    expect(drawn.some((line) => /^ {2}total {3}[0-9.]+ [KMG]?i?B \/ [0-9.]+ MiB/.test(line))).toBe(true);
    expect(run.screen).toContain(`  done    ${short()}  `);
    expect(run.screen).toMatch(
      / {2}total {3}\d+ copied \([0-9.]+ [KMG]?i?B\), \d+ already there, in [0-9.]+ s/,
    );
  });

  it('pull -k: the same display while the layers download', () => {
    const run = onTerminal([
      'pull',
      '-k',
      `${registry.host}/tty/kernel:a`,
      '--dest',
      join(work, 'boot'),
      '--cache',
      join(work, 'cache'),
      '--arch',
      'amd64',
    ]);
    expect(run.code, run.screen).toBe(0);
    expect(run.screen).toContain(`  done    ${short()}  `);
    expect(run.screen).toContain('installed ');
  });

  it('publish: its steps above the live lines, a done line per blob', () => {
    const cloud = debianKernelPaths('cloud-amd64');
    const run = onTerminal([
      'publish',
      '--kernel',
      cloud.vmlinuz,
      '--config',
      cloud.config,
      '--flavor',
      resolve(import.meta.dirname, '../../kernels/flavors/demo.ini'),
      '--to',
      `${registry.host}/tty/published`,
    ]);
    expect(run.code, run.screen).toBe(0);
    const drawn = run.screen.split(`${ESC}[2K`);
    expect(drawn.some((line) => line.startsWith('kart: pushing '))).toBe(true);
    expect(
      drawn.filter((line) => /^ {2}done {4}sha256:[0-9a-f]{12} {2}/.test(line)).length,
    ).toBeGreaterThanOrEqual(4);
  });

  it('--quiet: nothing but the result', () => {
    const run = onTerminal([
      'push',
      '--quiet',
      `oci:${join(work, 'layout')}:a`,
      `${registry.host}/tty/quiet:a`,
    ]);
    expect(run.code, run.screen).toBe(0);
    expect(run.screen).not.toContain(ESC);
    expect(run.screen.trim()).toMatch(/^sha256:[0-9a-f]{64} a$/);
  });

  it('on a pipe: stderr stays empty; --json output is the report alone', async () => {
    const piped = await runKart(['push', `oci:${join(work, 'layout')}:a`, `${registry.host}/tty/piped:a`]);
    expect(piped.code, piped.stderr).toBe(0);
    expect(piped.stderr).toBe('');
    const json = onTerminal([
      'push',
      '--json',
      `oci:${join(work, 'layout')}:a`,
      `${registry.host}/tty/json:a`,
    ]);
    expect(json.code, json.screen).toBe(0);
    expect(json.screen).not.toContain(ESC);
    expect(JSON.parse(json.screen)).toMatchObject({ tag: 'a', copied: expect.any(Number) });
  });
});
