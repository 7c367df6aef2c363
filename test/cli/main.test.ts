import { spawn, spawnSync } from 'node:child_process';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const KART = resolve(import.meta.dirname, '../../bin/kart.js');

describe('kart entry point', () => {
  it('lists every registered command in --help and exits 0', () => {
    const run = spawnSync(process.execPath, [KART, '--help'], { encoding: 'utf8' });
    expect(run.status).toBe(0);
    for (const name of ['check', 'flavors', 'config'])
      expect(run.stdout).toMatch(new RegExp(`^  ${name}\\b`, 'm'));
  });

  it('--help loads no library room and no undici (commands load lazily)', () => {
    const hook = resolve(import.meta.dirname, '../support/trace-module-loads.ts');
    const run = spawnSync(process.execPath, ['--import', hook, KART, '--help'], { encoding: 'utf8' });
    expect(run.status).toBe(0);
    const loaded = run.stderr
      .split('\n')
      .filter((line) => line.startsWith('kart-test-loaded '))
      .map((line) => line.slice('kart-test-loaded '.length));
    expect(loaded.some((url) => url.endsWith('/src/cli/main.ts'))).toBe(true); // the trace works
    expect(
      loaded.filter((url) => /\/src\/(kernel|registry|oci)\/|\/node_modules\/undici\//.test(url)),
    ).toEqual([]);
  });

  it('exits 2 on an unknown command, naming it', () => {
    const run = spawnSync(process.execPath, [KART, 'frobnicate'], { encoding: 'utf8' });
    expect(run.status).toBe(2);
    expect(run.stderr).toContain("unknown command 'frobnicate'");
  });

  it('ends quietly with status 0 when the reader closes stdout early (kart … | head)', async () => {
    const child = spawn(process.execPath, [KART, 'flavors', 'xen-guest'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.stdout.destroy();
    const status = await new Promise<number | null>((done) => child.on('close', (code) => done(code)));
    expect(stderr).not.toContain('EPIPE');
    expect(status).toBe(0);
  });
});
