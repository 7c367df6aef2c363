/**
 * The pull cache keeps kart's large layers by hard link to the files `pull -k` installed (framed
 * blobs: the file plus the tar bytes around it), on a real Debian kernel through the real registry:
 * the kernel and addons are on disk once, the cache still reads back and verifies every blob, a
 * changed installed file is caught by `--verify-installed` and `cache verify` and fetched again, on
 * XFS the cache keeps a reflinked copy instead, a cache on another filesystem keeps whole blobs, and a layer that is not one file falls back to a
 * whole copy.
 */
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { packKernel, type PackedFile } from '../../src/kernel/artifact/index.ts';
import { LAYER_FILE_ANNOTATION } from '../../src/kernel/artifact/layer-files.ts';
import { listCache, pruneCache, verifyCache } from '../../src/kernel/cache/index.ts';
import { pullKernel } from '../../src/kernel/pull/index.ts';
import { MediaType, type Descriptor } from '../../src/oci/index.ts';
import { openLayout, type OciLayout } from '../../src/oci/layout.ts';
import { copyReference } from '../../src/registry/index.ts';
import { debianKernelPaths, ensureDebianAddons } from '../support/debian-kernels.ts';
import { startRegistry, type TestRegistry } from '../support/registry.ts';
import { storeImage } from '../kernel/install/crafted-images.ts';
import { tarBytes } from '../kernel/pull/kernel-shapes.ts';
import { extentsShared, withXfs } from '../support/xfs-mount.ts';

let registry: TestRegistry;
let work: string;
let layout: OciLayout;
let ref: string;
let files: PackedFile[];
let inputs: Record<string, Buffer>;

const hexOf = (desc: Descriptor) => desc.digest.slice('sha256:'.length);
const layerOf = (path: string) => files.find((file) => file.path === path)!.layer;
const framedData = (cacheDir: string, desc: Descriptor) =>
  join(cacheDir, 'framed/sha256', hexOf(desc), 'data');
const wholeBlob = (cacheDir: string, desc: Descriptor) => join(cacheDir, 'blobs/sha256', hexOf(desc));
const gets = (digest: string) =>
  (registry.requestLog ?? []).filter((r) => r.method === 'GET' && r.path.endsWith(`/blobs/${digest}`)).length;

const pull = (dest: string, cacheDir: string, extra: Partial<Parameters<typeof pullKernel>[0]> = {}) =>
  pullKernel({ reference: ref, dest, arch: 'amd64', cacheDir, target: { plainHttp: true }, ...extra });

beforeAll(async () => {
  registry = await startRegistry({ countRequests: true });
  work = mkdtempSync(join(tmpdir(), 'kart-framed-'));
  layout = await openLayout(join(work, 'layout'), { create: true });
  const debian = debianKernelPaths('cloud-amd64');
  const addons = await ensureDebianAddons('cloud-amd64');
  const packed = await packKernel(
    { kernel: debian.vmlinuz, config: debian.config, addons, flavor: 'zone', noCheck: true, tags: ['d'] },
    layout,
  );
  files = packed.files;
  ref = `${registry.host}/framed/kernel:d`;
  await copyReference(`oci:${layout.root}:d`, ref, { plainHttp: true });
  inputs = { kernel: readFileSync(debian.vmlinuz), 'addons.squashfs': readFileSync(addons) };
});
afterAll(async () => {
  await registry?.stop();
  rmSync(work, { recursive: true, force: true });
});

describe('the pull cache keeps large layers by hard link to the installed files', () => {
  it('a cold pull -k writes the kernel and addons once: the cache links them, and reads every blob back verified', async () => {
    const cacheDir = join(work, 'cache-a');
    const dest = join(work, 'dest-a');
    const result = await pull(dest, cacheDir);
    expect(result.installed).toBe(true);
    for (const [name, path] of [
      ['kernel', 'kernel/image'],
      ['addons.squashfs', 'kernel/addons.squashfs'],
    ] as const) {
      const layer = layerOf(path);
      const installed = statSync(join(dest, name));
      const kept = statSync(framedData(cacheDir, layer));
      expect({ name, sameFile: kept.ino === installed.ino, links: installed.nlink }).toEqual({
        name,
        sameFile: true,
        links: 2,
      });
      expect(existsSync(wholeBlob(cacheDir, layer))).toBe(false);
      expect(readFileSync(join(dest, name)).equals(inputs[name]!)).toBe(true);
    }
    // Every installed file is read-only: a change to one would change the cache's copy too.
    for (const file of result.files) expect(statSync(join(dest, file.name)).mode & 0o777).toBe(0o444);
    // The small layers (config.gz, metadata) are fetched ahead and kept whole.
    expect(existsSync(wholeBlob(cacheDir, layerOf('kernel/metadata')))).toBe(true);

    const verified = await verifyCache(cacheDir);
    expect(verified).toMatchObject({ ok: true, corrupt: [] });
    expect(verified.checked).toBe(result.blobs.length);

    // --offline into another DEST reads the framed blobs back (verified) and installs the same bytes,
    // as a file of its own: without reflinks (ext4) two DESTs are never one file.
    const offline = await pull(join(work, 'dest-a2'), cacheDir, { offline: true });
    expect(offline.installed).toBe(true);
    for (const [name, path] of [
      ['kernel', 'kernel/image'],
      ['addons.squashfs', 'kernel/addons.squashfs'],
    ] as const) {
      expect(readFileSync(join(work, 'dest-a2', name)).equals(inputs[name]!)).toBe(true);
      expect(statSync(join(work, 'dest-a2', name)).nlink).toBe(1);
      expect(statSync(framedData(cacheDir, layerOf(path))).nlink).toBe(2);
    }
  });

  it('a changed installed file: --verify-installed reinstalls it, cache verify removes the shared layer, the next pull fetches it again', async () => {
    const cacheDir = join(work, 'cache-b');
    const dest = join(work, 'dest-b');
    await pull(dest, cacheDir);
    const kernelLayer = layerOf('kernel/image');
    // Someone writes into the installed kernel (it is read-only; they made it writable first).
    chmodSync(join(dest, 'kernel'), 0o644);
    const changed = Buffer.from(inputs.kernel!);
    changed[changed.length - 1]! ^= 0xff;
    writeFileSync(join(dest, 'kernel'), changed);

    const report = await verifyCache(cacheDir);
    expect(report.ok).toBe(false);
    expect(report.corrupt.map((blob) => blob.digest)).toEqual([kernelLayer.digest]);
    expect(existsSync(join(cacheDir, 'framed/sha256', hexOf(kernelLayer)))).toBe(false);

    const before = gets(kernelLayer.digest);
    const repaired = await pull(dest, cacheDir, { verifyInstalled: true });
    expect(repaired.installed).toBe(true);
    expect(gets(kernelLayer.digest)).toBe(before + 1);
    expect(readFileSync(join(dest, 'kernel')).equals(inputs.kernel!)).toBe(true);
    expect(statSync(framedData(cacheDir, kernelLayer)).ino).toBe(statSync(join(dest, 'kernel')).ino);
    expect(await verifyCache(cacheDir)).toMatchObject({ ok: true });
  });

  it('a framed blob read back damaged during a pull is removed and fetched again by that pull', async () => {
    const cacheDir = join(work, 'cache-c');
    const first = join(work, 'dest-c');
    await pull(first, cacheDir);
    const addonsLayer = layerOf('kernel/addons.squashfs');
    chmodSync(join(first, 'addons.squashfs'), 0o644);
    writeFileSync(join(first, 'addons.squashfs'), 'not the addons');
    const before = gets(addonsLayer.digest);
    // Into a new DEST: the cache's copy of the addons layer is read, found damaged, and replaced.
    const second = await pull(join(work, 'dest-c2'), cacheDir);
    expect(second.installed).toBe(true);
    expect(second.notices.join('\n')).toContain(`blob ${addonsLayer.digest} was damaged`);
    expect(gets(addonsLayer.digest)).toBe(before + 1);
    expect(readFileSync(join(work, 'dest-c2', 'addons.squashfs')).equals(inputs['addons.squashfs']!)).toBe(
      true,
    );
  });

  it('prune --keep 1 keeps the framed layers of the digest it keeps, and cache ls counts them', async () => {
    const cacheDir = join(work, 'cache-keep');
    const result = await pull(join(work, 'dest-keep'), cacheDir);
    const pruned = await pruneCache(cacheDir, 1);
    expect(pruned.removed).toEqual([]);
    for (const path of ['kernel/image', 'kernel/addons.squashfs']) {
      expect(existsSync(framedData(cacheDir, layerOf(path)))).toBe(true);
    }
    const listed = await listCache(cacheDir);
    const imageBytes = result.blobs.reduce((sum, blob) => sum + blob.size, 0);
    expect(listed.references.map((entry) => entry.size)).toEqual([imageBytes]);
    expect(listed).toMatchObject({ blobs: result.blobs.length, totalSize: imageBytes });
    // And --offline still installs from it.
    expect((await pull(join(work, 'dest-keep-2'), cacheDir, { offline: true })).installed).toBe(true);
  });

  it('prune removes a framed blob nothing reaches; the installed file stays', async () => {
    const cacheDir = join(work, 'cache-d');
    const dest = join(work, 'dest-d');
    await pull(dest, cacheDir);
    expect(existsSync(join(cacheDir, 'framed/sha256', hexOf(layerOf('kernel/image'))))).toBe(true);
    // Forget every reference, so nothing reaches the layers any more.
    writeFileSync(join(cacheDir, 'refs.json'), JSON.stringify({ references: {} }));
    writeFileSync(
      join(cacheDir, 'index.json'),
      JSON.stringify({ schemaVersion: 2, mediaType: MediaType.OciIndex, manifests: [] }),
    );
    const pruned = await pruneCache(cacheDir, 0);
    expect(pruned.removed.map((blob) => blob.digest)).toContain(layerOf('kernel/image').digest);
    expect(existsSync(join(cacheDir, 'framed/sha256', hexOf(layerOf('kernel/image'))))).toBe(false);
    expect(readFileSync(join(dest, 'kernel')).equals(inputs.kernel!)).toBe(true);
    expect(statSync(join(dest, 'kernel')).nlink).toBe(1);
  });

  it('a cache on another filesystem than DEST keeps whole blobs, and DEST files are its own', async () => {
    const cacheDir = mkdtempSync(join('/dev/shm', 'kart-framed-cache-'));
    try {
      expect(statSync(cacheDir).dev).not.toBe(statSync(work).dev);
      const dest = join(work, 'dest-e');
      await pull(dest, cacheDir);
      const layer = layerOf('kernel/image');
      expect(existsSync(wholeBlob(cacheDir, layer))).toBe(true);
      expect(existsSync(join(cacheDir, 'framed'))).toBe(false);
      expect(statSync(join(dest, 'kernel')).nlink).toBe(1);
      expect(await verifyCache(cacheDir)).toMatchObject({ ok: true });
    } finally {
      rmSync(cacheDir, { recursive: true, force: true });
    }
  });

  it("on a filesystem with reflinks (XFS) the cache keeps a copy sharing the installed file's blocks: a change to DEST does not reach it", async () => {
    await withXfs(async (mount) => {
      const cacheDir = join(mount, 'cache');
      const dest = join(mount, 'dest');
      await pull(dest, cacheDir);
      const layer = layerOf('kernel/image');
      const kept = framedData(cacheDir, layer);
      expect(statSync(kept).ino).not.toBe(statSync(join(dest, 'kernel')).ino);
      expect(statSync(join(dest, 'kernel')).nlink).toBe(1);
      expect(extentsShared(kept)).toBe(true);
      expect(existsSync(wholeBlob(cacheDir, layer))).toBe(false);
      // Into a second DEST from the cache: a reflink of the cache's copy, not a new one.
      const second = join(mount, 'dest-2');
      await pull(second, cacheDir, { offline: true });
      expect(statSync(join(second, 'kernel')).ino).not.toBe(statSync(kept).ino);
      expect(extentsShared(join(second, 'kernel'))).toBe(true);
      expect(readFileSync(join(second, 'kernel')).equals(inputs.kernel!)).toBe(true);
      chmodSync(join(dest, 'kernel'), 0o644);
      writeFileSync(join(dest, 'kernel'), 'changed');
      expect(await verifyCache(cacheDir)).toMatchObject({ ok: true, corrupt: [] });
      expect(readFileSync(join(second, 'kernel')).equals(inputs.kernel!)).toBe(true);
    });
  });

  it('a layer named as one file that holds two is fetched again whole, and the pull installs it', async () => {
    // kernel/image and kernel/addons.squashfs in one uncompressed layer that names only kernel/image.
    const both = await tarBytes({
      'kernel/image': inputs.kernel!,
      'kernel/addons.squashfs': inputs['addons.squashfs']!.subarray(0, 2 * 1024 * 1024),
    });
    const config = gzipSync(readFileSync(debianKernelPaths('cloud-amd64').config));
    const named = (path: string) => ({ [LAYER_FILE_ANNOTATION]: path });
    const manifestDesc = await storeImage(layout, [
      { bytes: both, annotations: named('kernel/image') },
      { bytes: await tarBytes({ 'kernel/config.gz': config }), annotations: named('kernel/config.gz') },
    ]);
    const manifest = JSON.parse(readFileSync(layout.blobPath(manifestDesc.digest), 'utf8')) as {
      layers: Descriptor[];
    };
    const twoFiles = manifest.layers[0]!;
    await layout.tag(manifestDesc, 'two');
    const twoRef = `${registry.host}/framed/kernel:two`;
    await copyReference(`oci:${layout.root}:two`, twoRef, { plainHttp: true });

    const cacheDir = join(work, 'cache-f');
    const dest = join(work, 'dest-f');
    const before = gets(twoFiles.digest);
    const result = await pullKernel({
      reference: twoRef,
      dest,
      arch: 'amd64',
      cacheDir,
      target: { plainHttp: true },
    });
    expect(result.installed).toBe(true);
    expect(readFileSync(join(dest, 'kernel')).equals(inputs.kernel!)).toBe(true);
    // Downloaded for the install, then again into the cache whole: it is not a one-file layer.
    expect(gets(twoFiles.digest)).toBe(before + 2);
    expect(existsSync(wholeBlob(cacheDir, twoFiles))).toBe(true);
    expect(existsSync(join(cacheDir, 'framed/sha256', hexOf(twoFiles)))).toBe(false);
    expect(await verifyCache(cacheDir)).toMatchObject({ ok: true });
  });
});
