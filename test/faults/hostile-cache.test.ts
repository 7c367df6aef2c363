/**
 * Issue 17, defects 6, 7 and 14, and issue 11's cache bullets: damaged and read-only caches, cache
 * roots real services use (an empty mount point, systemd's CacheDirectory= under a read-only parent),
 * an image config that claims a gigabyte, and temp files a killed transfer left. Against the real
 * registry (distribution 2.8); read-only and mount-point caches are real tmpfs mounts (tests run as root).
 */
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import {
  chmodSync,
  chownSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  rmSync,
  truncateSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listCache, verifyCache } from '../../src/kernel/cache/index.ts';
import { pullKernel } from '../../src/kernel/pull/index.ts';
import { sha256Digest } from '../../src/oci/digest.ts';
import { openLayout, type OciLayout } from '../../src/oci/layout.ts';
import { MediaType } from '../../src/oci/media-types.ts';
import type { Descriptor, ImageIndex, ImageManifest } from '../../src/oci/schema.ts';
import { copyReference } from '../../src/registry/index.ts';
import { kartErrorOf } from '../support/kart-error.ts';
import { startRegistry, type TestRegistry } from '../support/registry.ts';
import { startScriptedServer } from '../support/scripted-server.ts';
import { withTmpfs } from '../support/small-tmpfs.ts';
import { storeKernelTag } from '../kernel/pull/kernel-shapes.ts';

let registry: TestRegistry;
let work: string;
let layout: OciLayout;
let reference: string;
let layers: Descriptor[];
let manifestDesc: Descriptor;

beforeAll(async () => {
  registry = await startRegistry({ countRequests: true });
  work = mkdtempSync(join(tmpdir(), 'kart-hostile-cache-'));
  layout = await openLayout(join(work, 'layout'), { create: true });
  const index = await storeKernelTag(layout, '6.1', { arches: ['amd64'] });
  await copyReference(`oci:${layout.root}:6.1`, `${registry.host}/hostile/kernel:6.1`, { plainHttp: true });
  reference = `${registry.host}/hostile/kernel:6.1`;
  const parsed = JSON.parse(readFileSync(layout.blobPath(index.digest), 'utf8')) as ImageIndex;
  manifestDesc = parsed.manifests.find((m) => m.platform?.architecture === 'amd64')!;
  layers = (JSON.parse(readFileSync(layout.blobPath(manifestDesc.digest), 'utf8')) as ImageManifest).layers;
});
afterAll(async () => {
  await registry?.stop();
  rmSync(work, { recursive: true, force: true });
});

let counter = 0;
function fresh(name: string): string {
  return join(work, `${name}-${++counter}`);
}
function pull(dest: string, cacheDir: string, extra: { offline?: boolean } = {}) {
  return pullKernel({ reference, dest, cacheDir, arch: 'amd64', target: { plainHttp: true }, ...extra });
}
function blobPath(cacheDir: string, desc: Descriptor): string {
  return join(cacheDir, 'blobs', 'sha256', desc.digest.slice(7));
}

describe('defect 6: damaged caches heal', () => {
  it('a truncated cached layer is removed and fetched again by the same pull', async () => {
    const cache = fresh('cache');
    await pull(fresh('dest'), cache);
    truncateSync(blobPath(cache, layers[0]!), 10);
    const result = await pull(fresh('dest'), cache);
    expect(result.installed).toBe(true);
    expect(result.notices).toEqual([
      `cache ${cache}: blob ${layers[0]!.digest} was damaged; removed and fetched again`,
    ]);
    expect(sha256Digest(readFileSync(blobPath(cache, layers[0]!)))).toBe(layers[0]!.digest);
  });

  it('a corrupt cached manifest is healed on a pull that changes nothing', async () => {
    const cache = fresh('cache');
    const dest = fresh('dest');
    await pull(dest, cache);
    writeFileSync(blobPath(cache, manifestDesc), 'garbage');
    const result = await pull(dest, cache);
    expect(result.installed).toBe(false);
    expect(result.notices[0]).toContain(`blob ${manifestDesc.digest} was damaged`);
  });

  it('a damaged refs.json and index.json are replaced with a notice, not fatal', async () => {
    const cache = fresh('cache');
    const dest = fresh('dest');
    await pull(dest, cache);
    writeFileSync(join(cache, 'refs.json'), '{"version": 1, "refer');
    writeFileSync(join(cache, 'index.json'), 'not json');
    const result = await pull(dest, cache);
    expect(result.notices).toEqual([
      `cache ${cache}: index.json was damaged and was replaced by an empty one (the blobs stay)`,
      expect.stringContaining(`${join(cache, 'refs.json')} was damaged`),
    ]);
    // refs.json is whole again: --offline works.
    expect((await pull(fresh('dest'), cache, { offline: true })).installed).toBe(true);
  });

  it('a read-only cache serves a warm pull, an offline pull and cache ls', async () => {
    await withTmpfs({ size: '64m' }, async (cache) => {
      const dest = fresh('dest');
      await pull(dest, cache);
      execFileSync('mount', ['-o', 'remount,ro', cache]);
      expect((await pull(dest, cache)).installed).toBe(false);
      expect((await pull(fresh('dest'), cache, { offline: true })).installed).toBe(true);
      const listing = await listCache(cache);
      expect(listing.references.map((r) => r.reference)).toEqual([reference]);
    });
  });
});

describe('issue 11: cache verify, then pull -k', () => {
  it('fetches again what verify removed, so that --offline works after it', async () => {
    const cache = fresh('cache');
    const dest = fresh('dest');
    await pull(dest, cache);
    writeFileSync(blobPath(cache, layers[1]!), 'rotten');
    expect((await verifyCache(cache)).corrupt.map((c) => c.digest)).toEqual([layers[1]!.digest]);
    expect(existsSync(blobPath(cache, layers[1]!))).toBe(false);
    const again = await pull(dest, cache);
    expect(again.installed).toBe(false);
    expect(again.blobs.find((b) => b.digest === layers[1]!.digest)?.fromCache).toBe(false);
    expect((await pull(fresh('dest'), cache, { offline: true })).installed).toBe(true);
  });

  it("reports and removes an interrupted transfer's temp files", async () => {
    const cache = fresh('cache');
    await pull(fresh('dest'), cache);
    const dead = spawnSync('true').pid;
    mkdirSync(join(cache, '.kart-ingest'), { recursive: true });
    writeFileSync(join(cache, '.kart-ingest', `0123456789abcdef.${dead}.aabbccddeeff`), Buffer.alloc(1000));
    const result = await pull(fresh('dest'), cache);
    expect(result.notices).toEqual([
      `cache ${cache}: removed 1 temp file (1000 bytes) left by an interrupted transfer`,
    ]);
    expect(readdirSync(join(cache, '.kart-ingest'))).toEqual([]);
  });
});

describe('defect 7: cache roots real services use', () => {
  it('an empty mount point holds the cache', async () => {
    await withTmpfs({ size: '64m' }, async (cache) => {
      expect((await pull(fresh('dest'), cache)).installed).toBe(true);
      expect(existsSync(join(cache, 'oci-layout'))).toBe(true);
    });
  });

  it("a user's own directory under a parent it cannot write (CacheDirectory=) holds the cache", async () => {
    const parent = fresh('readonly-parent');
    const cache = join(parent, 'kart');
    mkdirSync(cache, { recursive: true });
    chownSync(cache, 65534, 65534);
    chmodSync(work, 0o755);
    // As that user (nobody): the parent is root's, 0755.
    const script = `import { openKernelCache } from ${JSON.stringify(resolve('src/kernel/cache/kernel-cache.ts'))};
      const cache = await openKernelCache(${JSON.stringify(cache)});
      process.stdout.write(String(cache.readOnly));`;
    const child = spawn(process.execPath, ['--input-type=module', '-e', script], { uid: 65534, gid: 65534 });
    let out = '';
    let err = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    child.stderr.on('data', (c: Buffer) => (err += c.toString()));
    const code = await new Promise((done) => child.on('close', done));
    expect({ code, out, err }).toEqual({ code: 0, out: 'false', err: '' });
    expect(existsSync(join(cache, 'oci-layout'))).toBe(true);
  });
});

describe('defect 14: an image config declared at 1 GiB', () => {
  it('is refused before a byte of it is downloaded', async () => {
    const config = { mediaType: MediaType.OciConfig, digest: sha256Digest('x'), size: 1024 ** 3 };
    const manifest = Buffer.from(
      JSON.stringify({ schemaVersion: 2, mediaType: MediaType.OciManifest, config, layers: [] }),
    );
    const digest = sha256Digest(manifest);
    const server = await startScriptedServer((req, res) => {
      if (!req.path.includes('/manifests/')) return res.writeHead(404).end();
      res.writeHead(200, {
        'content-type': MediaType.OciManifest,
        'docker-content-digest': digest,
        'content-length': String(manifest.length),
      });
      res.end(req.method === 'HEAD' ? undefined : manifest);
    });
    try {
      const error = await kartErrorOf(
        pullKernel({
          reference: `${server.host}/acme/kernel:6.1`,
          dest: fresh('dest'),
          cacheDir: fresh('cache'),
          arch: 'amd64',
          target: { plainHttp: true },
        }),
      );
      expect(error.code).toBe('MANIFEST_TOO_LARGE');
      expect(server.requests.filter((r) => r.path.includes('/blobs/'))).toEqual([]);
    } finally {
      await server.stop();
    }
  });
});
