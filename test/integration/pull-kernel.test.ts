/**
 * `kart pull -k` end to end, as processes: a real Debian kernel (with its modules as addons.squashfs)
 * packed into a layout, published to the real registry and pulled byte-identical; eight concurrent
 * pulls into one cache fetch each blob once (counted by the proxy); SIGKILL before the swap leaves DEST
 * the old complete kernel, after it the new one, and nothing unverified under the cache's blobs/;
 * `kart cache prune --keep 0` during a pull keeps that pull's blobs.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  createReadStream,
  existsSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  readlinkSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join, resolve } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openLayout, type OciLayout } from '../../src/oci/layout.ts';
import type { Descriptor } from '../../src/oci/schema.ts';
import { readTar } from '../../src/oci/tar-reader.ts';
import { copyReference } from '../../src/registry/index.ts';
import { packKernel } from '../../src/kernel/artifact/index.ts';
import { PULLS_DIR, pruneCache } from '../../src/kernel/cache/index.ts';
import { installAreaDir } from '../../src/kernel/install/index.ts';
import { debianKernelPaths, ensureDebianAddons } from '../support/debian-kernels.ts';
import { startRegistry, type TestRegistry } from '../support/registry.ts';
import { expectedFiles, storeKernelTag } from '../kernel/pull/kernel-shapes.ts';

const KART = resolve(import.meta.dirname, '../../bin/kart.js');
let registry: TestRegistry;
let work: string;
let layout: OciLayout;

interface Run {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

function start(
  args: string[],
  env: Record<string, string> = {},
): { child: ChildProcess; done: Promise<Run> } {
  const child = spawn(process.execPath, [KART, ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, ...env },
  });
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (c: Buffer) => (stdout += c.toString()));
  child.stderr?.on('data', (c: Buffer) => (stderr += c.toString()));
  const done = new Promise<Run>((ok, fail) => {
    child.on('error', fail);
    child.on('close', (code, signal) => ok({ code, signal, stdout, stderr }));
  });
  return { child, done };
}

const kart = (...args: string[]) => start(args).done;

/** `kart pull -k REF --dest DEST --arch amd64 --cache CACHE --json`, as a process with `env` added. */
const pullKWith = (env: Record<string, string>, ref: string, dest: string, cacheDir: string) =>
  start(['pull', '-k', ref, '--dest', dest, '--arch', 'amd64', '--cache', cacheDir, '--json'], env).done;
const pullK = (ref: string, dest: string, cacheDir: string) => pullKWith({}, ref, dest, cacheDir);

async function waitFor(path: string, deadlineMs = 30_000): Promise<void> {
  const deadline = Date.now() + deadlineMs;
  while (!existsSync(path)) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${path}`);
    await delay(10);
  }
}

function sha256(bytes: Buffer): string {
  return `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
}

/** Every blob in the cache hashes to its name. */
function expectCacheVerified(cacheDir: string): void {
  const dir = join(cacheDir, 'blobs/sha256');
  for (const hex of existsSync(dir) ? readdirSync(dir) : []) {
    expect(sha256(readFileSync(join(dir, hex)))).toBe(`sha256:${hex}`);
  }
}

/** The bytes of `path` inside an (uncompressed) tar layer of the layout. */
async function fileInLayer(layer: Descriptor, path: string): Promise<Buffer> {
  for await (const entry of readTar(createReadStream(layout.blobPath(layer.digest)))) {
    if (entry.path !== path) continue;
    const chunks: Buffer[] = [];
    for await (const chunk of entry.body) chunks.push(chunk as Buffer);
    return Buffer.concat(chunks);
  }
  throw new Error(`${path} is not in layer ${layer.digest}`);
}

beforeAll(async () => {
  registry = await startRegistry({ countRequests: true });
  work = mkdtempSync(join(tmpdir(), 'kart-pull-int-'));
  layout = await openLayout(join(work, 'layout'), { create: true });
});
afterAll(async () => {
  await registry?.stop();
  rmSync(work, { recursive: true, force: true });
});

describe('kart pull -k (processes)', () => {
  it('round-trips a real Debian kernel byte-identical: kernel, config, addons.squashfs, metadata', async () => {
    const debian = debianKernelPaths('cloud-amd64');
    const addons = await ensureDebianAddons('cloud-amd64');
    const packed = await packKernel(
      {
        kernel: debian.vmlinuz,
        config: debian.config,
        addons,
        flavor: 'zone',
        noCheck: true,
        tags: ['debian'],
      },
      layout,
    );
    const ref = `${registry.host}/debian/kernel:cloud`;
    await copyReference(`oci:${layout.root}:debian`, ref, { plainHttp: true });
    const dest = join(work, 'debian-dest');
    const run = await pullK(ref, dest, join(work, 'debian-cache'));
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    // The inputs pack was given, and the metadata exactly as pack wrote it into its layer.
    const metadataLayer = packed.files.find((file) => file.path === 'kernel/metadata')?.layer as Descriptor;
    const inputs: Record<string, Buffer> = {
      kernel: readFileSync(debian.vmlinuz),
      config: readFileSync(debian.config),
      'addons.squashfs': readFileSync(addons),
      metadata: await fileInLayer(metadataLayer, 'kernel/metadata'),
    };
    expect(inputs.metadata?.toString()).toMatch(/^KERNEL_ARCH=x86_64\n/);
    expect(readdirSync(dest).sort()).toEqual([...Object.keys(inputs), 'kart.json'].sort());
    for (const [name, bytes] of Object.entries(inputs)) {
      expect({ name, equal: readFileSync(join(dest, name)).equals(bytes) }).toEqual({ name, equal: true });
    }
    const result = JSON.parse(run.stdout);
    expect(result).toMatchObject({ reference: ref, platform: 'linux/amd64', installed: true });
    expect(result.files).toEqual(
      ['kernel', 'config', 'addons.squashfs', 'metadata'].map((name) => ({
        name,
        size: inputs[name]?.length,
        digest: sha256(inputs[name] as Buffer),
        fromCache: false,
      })),
    );
  });

  it('a cold pull -k hashes each layer byte once: downloaded, verified and split between the cache and DEST', async () => {
    const ref = `${registry.host}/debian/kernel:cloud`;
    const cacheDir = join(work, 'counted-cache');
    const counted = join(work, 'hashed-bytes');
    const run = await pullKWith(
      { KART_COUNT_HASHED_BYTES: counted },
      ref,
      join(work, 'counted-dest'),
      cacheDir,
    );
    expect({ code: run.code, stderr: run.stderr }).toEqual({ code: 0, stderr: '' });
    const result = JSON.parse(run.stdout) as {
      blobs: { mediaType: string; size: number; fromCache: boolean }[];
      files: { size: number }[];
    };
    const sum = (sizes: number[]) => sizes.reduce((a, b) => a + b, 0);
    const documents = sum(result.blobs.filter((b) => b.mediaType.endsWith('json')).map((b) => b.size));
    const layerSizes = result.blobs.filter((b) => !b.mediaType.endsWith('json')).map((b) => b.size);
    const layers = sum(layerSizes);
    // Layers up to 1 MiB are fetched ahead and read back; a small layer's file may be staged (and
    // hashed) before what is installed is made from it (config.gz).
    const small = sum(layerSizes.filter((size) => size <= 1024 ** 2));
    expect(layers).toBeGreaterThan(20_000_000);
    expect(result.blobs.every((b) => !b.fromCache)).toBe(true);
    const installed = sum(result.files.map((file) => file.size));
    const hashed = JSON.parse(readFileSync(counted, 'utf8')) as { verified: number; content: number };
    // Every layer byte is verified once (the registry read); the small layers fetched ahead and the
    // JSON documents (a few KB) again as they are read back from the cache.
    expect(hashed.verified).toBeGreaterThanOrEqual(layers + documents);
    expect(hashed.verified).toBeLessThanOrEqual(layers + small + 6 * documents);
    // Each installed byte is hashed once for kart.json; a small layer's file (config.gz) may be staged
    // and hashed before what is installed is made from it.
    expect(hashed.content).toBeGreaterThanOrEqual(installed);
    expect(hashed.content).toBeLessThanOrEqual(installed + small);

    // Into a new DEST from the warm cache: each cached layer is read once, verified as it goes by.
    const warmCount = join(work, 'hashed-bytes-warm');
    const warm = await pullKWith(
      { KART_COUNT_HASHED_BYTES: warmCount },
      ref,
      join(work, 'counted-dest-2'),
      cacheDir,
    );
    expect({ code: warm.code, stderr: warm.stderr }).toEqual({ code: 0, stderr: '' });
    expect((JSON.parse(warm.stdout) as typeof result).blobs.every((b) => b.fromCache)).toBe(true);
    const warmHashed = JSON.parse(readFileSync(warmCount, 'utf8')) as typeof hashed;
    expect(warmHashed.verified).toBeGreaterThanOrEqual(layers + documents);
    expect(warmHashed.verified).toBeLessThanOrEqual(layers + 6 * documents);
    expectCacheVerified(cacheDir);
  });

  it('fetches the small layers side by side with the first large one, not in their turn after it', async () => {
    const ref = `${registry.host}/debian/kernel:cloud`;
    const log = registry.requestLog ?? [];
    const before = log.length;
    const run = await pullK(ref, join(work, 'ahead-dest'), join(work, 'ahead-cache'));
    expect({ code: run.code, stderr: run.stderr }).toEqual({ code: 0, stderr: '' });
    const layers = (JSON.parse(run.stdout) as { blobs: Descriptor[] }).blobs.filter(
      (b) => !b.mediaType.endsWith('json'),
    );
    const small = layers.filter((b) => b.size <= 1024 ** 2).map((b) => b.digest);
    const large = layers.filter((b) => b.size > 1024 ** 2).map((b) => b.digest);
    expect({ small: small.length, large: large.length }).toEqual({ small: 2, large: 2 });
    // Requested in this order: layers come in manifest order (kernel/image, config.gz, addons,
    // metadata), so one by one the last small layer would be asked for after the second large one.
    const gets = log
      .slice(before)
      .filter((r) => r.method === 'GET' && r.path.includes('/blobs/'))
      .map((r) => r.path.slice(r.path.lastIndexOf('/') + 1));
    const secondLarge = gets.indexOf(large[1]!);
    expect(secondLarge).toBeGreaterThan(0);
    for (const digest of small) expect(gets.indexOf(digest)).toBeLessThan(secondLarge);
    expect(gets.indexOf(large[0]!)).toBeLessThan(secondLarge);
  });

  it('a layer corrupted at the registry fails the one-pass pull -k: no DEST, no cached blob, no temp file', async () => {
    await storeKernelTag(layout, 'corrupt', { release: '6.1.99-corrupt' });
    const ref = `${registry.host}/corrupt/kernel:one-pass`;
    await copyReference(`oci:${layout.root}:corrupt`, ref, { plainHttp: true });
    const image = (await layout.resolve('corrupt')) as Descriptor;
    const index = JSON.parse(readFileSync(layout.blobPath(image.digest), 'utf8')) as {
      manifests: Descriptor[];
    };
    const amd64 = index.manifests.find((m) => m.platform?.architecture === 'amd64') as Descriptor;
    const manifest = JSON.parse(readFileSync(layout.blobPath(amd64.digest), 'utf8')) as {
      layers: Descriptor[];
    };
    const largest = [...manifest.layers].sort((a, b) => b.size - a.size)[0] as Descriptor;
    const hex = largest.digest.slice('sha256:'.length);
    // Same size, different bytes: only the hash can tell, and only at the layer's end.
    // The registry stores each blob once for all repositories: put it back for the other tests.
    const data = join(registry.storageDir, 'docker/registry/v2/blobs/sha256', hex.slice(0, 2), hex, 'data');
    writeFileSync(data, Buffer.alloc(largest.size, 0x5a));
    try {
      const cacheDir = join(work, 'corrupt-cache');
      const dest = join(work, 'corrupt-dest');
      const run = await pullK(ref, dest, cacheDir);
      // A verification failure (exit 1), not a transfer one: nothing is fetched again.
      expect(run.code).toBe(1);
      const gets = (registry.requestLog ?? []).filter(
        (r) => r.method === 'GET' && r.path === `/v2/corrupt/kernel/blobs/${largest.digest}`,
      );
      expect(gets.length).toBe(1);
      expect(JSON.parse(run.stdout).error).toMatchObject({
        code: 'DIGEST_MISMATCH',
        details: { expected: largest.digest },
      });
      expect(existsSync(dest)).toBe(false);
      expect(existsSync(installAreaDir(dest))).toBe(false);
      expect(existsSync(join(cacheDir, 'blobs/sha256', hex))).toBe(false);
      expect(readdirSync(join(cacheDir, '.kart-ingest'))).toEqual([]);
      expectCacheVerified(cacheDir);
    } finally {
      writeFileSync(data, readFileSync(layout.blobPath(largest.digest)));
    }
  });

  it('eight concurrent pulls into one cache all succeed and GET each blob once', async () => {
    await storeKernelTag(layout, 'eight', { release: '6.1.99-eight' });
    const ref = `${registry.host}/concurrent/kernel:eight`;
    await copyReference(`oci:${layout.root}:eight`, ref, { plainHttp: true });
    const log = registry.requestLog ?? [];
    const before = log.length;
    const cacheDir = join(work, 'cache-eight');
    const runs = await Promise.all(
      Array.from({ length: 8 }, (_, i) =>
        kart('pull', '-k', ref, '--dest', join(work, `eight-${i}`), '--arch', 'amd64', '--cache', cacheDir),
      ),
    );
    for (const run of runs) expect({ code: run.code, stderr: run.stderr }).toEqual({ code: 0, stderr: '' });
    for (let i = 0; i < 8; i++) {
      expect(readFileSync(join(work, `eight-${i}`, 'kernel'))).toEqual(
        expectedFiles('amd64', 'kart', '6.1.99-eight').kernel,
      );
    }
    const gets = log
      .slice(before)
      .filter((r) => r.method === 'GET' && /\/(blobs|manifests)\/sha256:/.test(r.path));
    const counts = new Map<string, number>();
    for (const r of gets) counts.set(r.path, (counts.get(r.path) ?? 0) + 1);
    // index, amd64 manifest, config, four layers: each fetched exactly once
    expect(counts.size).toBe(7);
    expect([...counts.values()]).toEqual(Array(7).fill(1));
    expect(log.slice(before).filter((r) => r.method === 'HEAD').length).toBe(8);
  });

  // download: mid-blob; staging: nothing staged yet; swap: the new kernel staged, DEST not yet changed;
  // swapped: DEST renamed to the new version, the old version not yet removed.
  const phases = ['download', 'staging', 'swap', 'swapped'] as const;
  const phaseName = {
    download: 'downloading',
    staging: 'staging',
    swap: 'swapping',
    swapped: 'just after the swap',
  };
  for (const phase of phases) {
    const survivor = phase === 'swapped' ? 'new' : 'old';
    it(`SIGKILL ${phaseName[phase]}: DEST is the ${survivor} complete kernel, the cache holds only verified blobs, the next pull cleans up`, async () => {
      await storeKernelTag(layout, `old-${phase}`, { release: '6.1.99-old' });
      await storeKernelTag(layout, `new-${phase}`, { release: '6.1.99-new' });
      const ref = `${registry.host}/crash/${phase}:k`;
      await copyReference(`oci:${layout.root}:old-${phase}`, ref, { plainHttp: true });
      const dest = join(work, `crash-${phase}`);
      const area = installAreaDir(dest);
      const cacheDir = join(work, `crash-cache-${phase}`);
      const first = await kart('pull', '-k', ref, '--dest', dest, '--arch', 'amd64', '--cache', cacheDir);
      expect(first.code).toBe(0);
      const oldVersion = basename(readlinkSync(dest));
      await copyReference(`oci:${layout.root}:new-${phase}`, ref, { plainHttp: true });

      const pauseDir = mkdtempSync(join(work, 'pause-'));
      const { child, done } = start(
        ['pull', '-k', ref, '--dest', dest, '--arch', 'amd64', '--cache', cacheDir],
        {
          KART_TEST_PAUSE_AT: phase,
          KART_TEST_PAUSE_DIR: pauseDir,
        },
      );
      await waitFor(join(pauseDir, `${phase}.reached`));
      child.kill('SIGKILL');
      expect((await done).signal).toBe('SIGKILL');

      const expected = expectedFiles('amd64', 'kart', `6.1.99-${survivor}`);
      expect(readFileSync(join(dest, 'kernel'))).toEqual(expected.kernel);
      expect(readFileSync(join(dest, 'config'))).toEqual(expected.config);
      expect(readFileSync(join(dest, 'metadata'))).toEqual(expected.metadata);
      expectCacheVerified(cacheDir);
      if (phase === 'swapped') {
        // Killed between the rename and the removal: the old version is still there, unnamed.
        expect(readdirSync(area)).toContain(oldVersion);
        expect(basename(readlinkSync(dest))).not.toBe(oldVersion);
      }
      // The killed pull's in-progress record outlives it; prune drops it (its process is gone).
      expect(readdirSync(join(cacheDir, PULLS_DIR))).toEqual([expect.stringMatching(`^${child.pid}\\.`)]);
      await pruneCache(cacheDir, 2);
      expect(readdirSync(join(cacheDir, PULLS_DIR))).toEqual([]);

      // The next pull recovers: DEST holds the new kernel (installed now, or already by the killed
      // pull), the version DEST names is the only one left, and the cache stays verified.
      const again = await kart('pull', '-k', ref, '--dest', dest, '--arch', 'amd64', '--cache', cacheDir);
      expect({ code: again.code, stderr: again.stderr }).toEqual({ code: 0, stderr: '' });
      expect(again.stdout).toMatch(phase === 'swapped' ? /^unchanged / : /^installed /);
      expect(readFileSync(join(dest, 'kernel'))).toEqual(expectedFiles('amd64', 'kart', '6.1.99-new').kernel);
      expect(readdirSync(area)).toEqual([basename(readlinkSync(dest))]);
      expectCacheVerified(cacheDir);
      writeFileSync(join(pauseDir, `${phase}.continue`), '');
    });
  }

  it('cache prune --keep 0 while a pull has fetched its blobs but not swapped keeps every blob of that pull', async () => {
    await storeKernelTag(layout, 'prune-race', { release: '6.1.99-prune' });
    const ref = `${registry.host}/prune/kernel:race`;
    await copyReference(`oci:${layout.root}:prune-race`, ref, { plainHttp: true });
    const cacheDir = join(work, 'cache-prune');
    const dest = join(work, 'prune-dest');
    const pauseDir = mkdtempSync(join(work, 'pause-'));
    const { done } = start(['pull', '-k', ref, '--dest', dest, '--arch', 'amd64', '--cache', cacheDir], {
      KART_TEST_PAUSE_AT: 'swap',
      KART_TEST_PAUSE_DIR: pauseDir,
    });
    await waitFor(join(pauseDir, 'swap.reached'));
    // The layers went to the cache and to staging in one pass; before the swap every blob the pull
    // needs is in the cache, and the reference has no pulled digest yet: only the pull's own record of
    // its root keeps them from --keep 0.
    const stored = readdirSync(join(cacheDir, 'blobs/sha256')).sort();
    expect(stored.length).toBe(7); // index, amd64 manifest, config, four layers
    const prune = await kart('cache', 'prune', '--keep', '0', '--cache', cacheDir, '--json');
    expect({ code: prune.code, stderr: prune.stderr }).toEqual({ code: 0, stderr: '' });
    expect(JSON.parse(prune.stdout)).toMatchObject({ removed: [], kept: 7 });
    expect(readdirSync(join(cacheDir, 'blobs/sha256')).sort()).toEqual(stored);

    writeFileSync(join(pauseDir, 'swap.continue'), '');
    const run = await done;
    expect({ code: run.code, stderr: run.stderr }).toEqual({ code: 0, stderr: '' });
    expect(readFileSync(join(dest, 'kernel'))).toEqual(expectedFiles('amd64', 'kart', '6.1.99-prune').kernel);
    // The pull ended and removed its record; what it pulled is kept as the reference's pulled digest.
    expect(readdirSync(join(cacheDir, PULLS_DIR))).toEqual([]);
  });
});
