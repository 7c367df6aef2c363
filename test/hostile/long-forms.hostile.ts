/**
 * The long forms of test/faults (issue 17), with kart's default limits: each of these took from five
 * minutes to forever before the fix. Run with `npm run test:hostile`.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { installKernel } from '../../src/kernel/install/index.ts';
import { openLayout, type OciLayout } from '../../src/oci/layout.ts';
import { kartLayers, rawTar, storeImage, type RawEntry } from '../kernel/install/crafted-images.ts';
import { kartErrorOf } from '../support/kart-error.ts';
import { runKart } from '../support/kart-cli.ts';
import { startScriptedServer, type ScriptedServer } from '../support/scripted-server.ts';
import { withTmpfs } from '../support/small-tmpfs.ts';

let root: string;
let layout: OciLayout;
beforeEach(async () => {
  root = mkdtempSync(join(tmpdir(), 'kart-hostile-long-'));
  layout = await openLayout(join(root, 'layout'), { create: true });
});
afterEach(() => rmSync(root, { recursive: true, force: true }));

describe('defect 8, long form', () => {
  it('a layer of 60,000 empty files installs', async () => {
    const many: RawEntry[] = Array.from({ length: 60_000 }, (_, i) => ({ path: `junk/${i}` }));
    const manifest = await storeImage(layout, [
      { bytes: rawTar([{ path: 'junk/', type: '5' }, ...many]), compression: 'gzip' },
      ...kartLayers('amd64'),
    ]);
    const result = await installKernel({ source: layout, manifest, dest: join(root, 'dest'), arch: 'amd64' });
    expect(result.files.map((f) => f.name)).toEqual(['kernel', 'config', 'metadata']);
  });
});

describe('defect 3, long form', () => {
  it('a 300 MiB zstd bomb fails LAYER_INVALID at the default bound, on a 64 MiB disk that never fills', async () => {
    const bomb = rawTar([{ path: 'junk', body: Buffer.alloc(300 * 1024 * 1024) }]);
    const manifest = await storeImage(layout, [{ bytes: bomb, compression: 'zstd' }, ...kartLayers('amd64')]);
    await withTmpfs({ size: '64m' }, async (mount) => {
      const error = await kartErrorOf(
        installKernel({ source: layout, manifest, dest: join(mount, 'dest'), arch: 'amd64' }),
      );
      expect(error.code).toBe('LAYER_INVALID');
      expect(error.message).toContain('decompresses to more than 268435456 bytes');
    });
  });
});

describe('defect 2, long form (the CLI with its default limits)', () => {
  let server: ScriptedServer | undefined;
  afterEach(async () => server?.stop());

  it('a registry that accepts and never answers: pull -k exits 3 within about a minute', async () => {
    server = await startScriptedServer(() => new Promise(() => {}));
    const started = Date.now();
    const run = await runKart([
      'pull',
      '-k',
      `${server.host}/acme/kernel:6.1`,
      '--dest',
      join(root, 'd'),
      '--cache',
      join(root, 'c'),
    ]);
    expect(run.code).toBe(3);
    expect(run.stderr).toContain('stopped sending data');
    expect(Date.now() - started).toBeLessThan(120_000);
  });

  it('Retry-After: 3600 fails at once when it cannot fit the --timeout', async () => {
    server = await startScriptedServer((_req, res) => {
      res.writeHead(503, { 'retry-after': '3600' });
      res.end();
    });
    const started = Date.now();
    const run = await runKart([
      'pull',
      '-k',
      `${server.host}/acme/kernel:6.1`,
      '--dest',
      join(root, 'd'),
      '--cache',
      join(root, 'c'),
      '--timeout',
      '30',
    ]);
    expect(run.code).toBe(3);
    expect(run.stderr).toContain('asks to wait 60 s');
    expect(Date.now() - started).toBeLessThan(20_000);
  });
});
