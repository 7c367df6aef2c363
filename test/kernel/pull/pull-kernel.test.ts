/**
 * pullKernel against the real registry (distribution 2.8) behind a request-counting proxy: every image
 * shape installs byte-identical files; an unchanged tag costs one HEAD; --offline works with the
 * registry gone; refused pulls leave DEST and the cache's blobs as they were.
 */
import {
  chmodSync,
  lstatSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  readlinkSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openLayout, type OciLayout } from '../../../src/oci/layout.ts';
import { copyReference } from '../../../src/registry/index.ts';
import { pullKernel } from '../../../src/kernel/pull/index.ts';
import { startRegistry, type TestRegistry } from '../../support/registry.ts';
import { expectedFiles, sha256, storeKernelTag, type Shape } from './kernel-shapes.ts';

let registry: TestRegistry;
let work: string;
let layout: OciLayout;

beforeAll(async () => {
  registry = await startRegistry({ countRequests: true });
  work = mkdtempSync(join(tmpdir(), 'kart-pull-'));
  layout = await openLayout(join(work, 'layout'), { create: true });
});
afterAll(async () => {
  await registry?.stop();
  rmSync(work, { recursive: true, force: true });
});

async function publish(
  repo: string,
  tag: string,
  options: Parameters<typeof storeKernelTag>[2] = {},
): Promise<string> {
  await storeKernelTag(layout, tag, options);
  await copyReference(`oci:${layout.root}:${tag}`, `${registry.host}/${repo}:${tag}`, { plainHttp: true });
  return `${registry.host}/${repo}:${tag}`;
}

function readInstalled(dest: string, names: string[]): Record<string, Buffer> {
  return Object.fromEntries(names.map((name) => [name, readFileSync(join(dest, name))]));
}

const requests = () => registry.requestLog ?? [];

describe('pullKernel shapes', () => {
  const shapes: Shape[] = ['kart', 'one-layer', 'zstd', 'docker-v2', 'linuxkit'];
  for (const shape of shapes) {
    for (const arch of ['amd64', 'arm64'] as const) {
      it(`installs a ${shape} image for linux/${arch} from an index with an attestation entry`, async () => {
        const ref = await publish(`shapes/${shape}`, arch === 'amd64' ? 'a' : 'b', { shape });
        const dest = join(work, `dest-${shape}-${arch}`);
        const cacheDir = join(work, `cache-${shape}-${arch}`);
        const result = await pullKernel({
          reference: ref,
          dest,
          arch,
          cacheDir,
          target: { plainHttp: true },
        });
        const expected = expectedFiles(arch, shape);
        expect(readInstalled(dest, Object.keys(expected))).toEqual(expected);
        // Exactly the files of that shape: a LinuxKit image has no metadata but keeps its kernel.tar.
        const installedNames = readdirSync(dest).sort();
        expect(installedNames).toEqual(
          (shape === 'linuxkit'
            ? ['config', 'kart.json', 'kernel', 'kernel.tar']
            : ['config', 'kart.json', 'kernel', 'metadata']
          ).sort(),
        );
        expect(result.platform).toBe(`linux/${arch}`);
        expect(result.installed).toBe(true);
        expect(result.files.find((f) => f.name === 'kernel')).toMatchObject({
          digest: sha256(expected.kernel as Buffer),
          size: (expected.kernel as Buffer).length,
          fromCache: false,
        });
        const record = JSON.parse(readFileSync(join(dest, 'kart.json'), 'utf8'));
        expect(record).toMatchObject({
          reference: ref,
          manifestDigest: result.manifestDigest,
          platform: { os: 'linux', architecture: arch },
        });
      });
    }
  }

  it('accepts a bare manifest and checks its config architecture', async () => {
    const ref = await publish('shapes/bare', 'bare', { bare: true, arches: ['amd64'] });
    const dest = join(work, 'dest-bare');
    const result = await pullKernel({
      reference: ref,
      dest,
      arch: 'amd64',
      cacheDir: join(work, 'cache-bare'),
      target: { plainHttp: true },
    });
    expect(result.digest).toBe(result.manifestDigest);
    expect(readFileSync(join(dest, 'kernel'))).toEqual(expectedFiles('amd64', 'kart').kernel);
    await expect(
      pullKernel({
        reference: ref,
        dest: join(work, 'dest-bare-arm'),
        arch: 'arm64',
        cacheDir: join(work, 'cache-bare'),
        target: { plainHttp: true },
      }),
    ).rejects.toMatchObject({
      code: 'KERNEL_ARTIFACT_INVALID',
      message: `manifest ${result.manifestDigest} is for linux/amd64, but linux/arm64 was asked for`,
    });
    expect(lstatSync(join(work, 'dest-bare-arm'), { throwIfNoEntry: false })).toBeUndefined();
  });
});

describe('pullKernel cache', () => {
  it('a second pull of an unchanged tag is one manifest request and rewrites nothing', async () => {
    const ref = await publish('cache/again', 'v1');
    const dest = join(work, 'dest-again');
    const cacheDir = join(work, 'cache-again');
    const first = await pullKernel({
      reference: ref,
      dest,
      arch: 'amd64',
      cacheDir,
      target: { plainHttp: true },
    });
    const link = readlinkSync(dest);
    const kernelIno = lstatSync(join(dest, 'kernel')).ino;
    // refs.json is replaced by rename on every write: the same inode and bytes mean it was not written.
    const refsFile = join(cacheDir, 'refs.json');
    const refs = { ino: lstatSync(refsFile).ino, bytes: readFileSync(refsFile, 'utf8') };
    const before = requests().length;
    const second = await pullKernel({
      reference: ref,
      dest,
      arch: 'amd64',
      cacheDir,
      target: { plainHttp: true },
    });
    expect(
      requests()
        .slice(before)
        .map((r) => `${r.method} ${r.path}`),
    ).toEqual(['HEAD /v2/cache/again/manifests/v1']);
    expect(second).toMatchObject({
      installed: false,
      digest: first.digest,
      manifestDigest: first.manifestDigest,
    });
    expect(second.files.every((f) => f.fromCache)).toBe(true);
    expect(readlinkSync(dest)).toBe(link);
    expect(lstatSync(join(dest, 'kernel')).ino).toBe(kernelIno);
    expect({ ino: lstatSync(refsFile).ino, bytes: readFileSync(refsFile, 'utf8') }).toEqual(refs);

    // A new DEST with a warm cache: still one request, every blob from the cache.
    const third = await pullKernel({
      reference: ref,
      dest: join(work, 'dest-again-2'),
      arch: 'amd64',
      cacheDir,
      target: { plainHttp: true },
    });
    expect(requests().length).toBe(before + 2);
    expect(third.installed).toBe(true);
    expect(third.blobs.every((b) => b.fromCache)).toBe(true);
    expect(third.files.every((f) => f.fromCache)).toBe(true);
    // Installing the same digest elsewhere records nothing new either.
    expect({ ino: lstatSync(refsFile).ino, bytes: readFileSync(refsFile, 'utf8') }).toEqual(refs);
  });

  it('trusts an installed DEST by its version directory and sizes: a file of another size is reinstalled', async () => {
    const ref = await publish('cache/size', 'v1');
    const dest = join(work, 'dest-size');
    const pull = () =>
      pullKernel({
        reference: ref,
        dest,
        arch: 'amd64',
        cacheDir: join(work, 'cache-size'),
        target: { plainHttp: true },
      });
    const first = await pull();
    // A first install, not a repair: DEST names the version directory `<hex>` itself, so the size is
    // the only thing that can make the next pull reinstall.
    expect(readlinkSync(dest)).toBe(`.dest-size.kart/${first.manifestDigest.slice(7)}`);
    const metadata = join(dest, 'metadata');
    const original = readFileSync(metadata);
    // Installed files are read-only; a change needs the file made writable first.
    chmodSync(metadata, 0o644);
    writeFileSync(metadata, Buffer.concat([original, Buffer.from('X')]));
    expect((await pull()).installed).toBe(true);
    expect(readFileSync(metadata)).toEqual(original);
  });

  it('re-hashes DEST with verifyInstalled; after that repair the next pull is one manifest request and rewrites nothing', async () => {
    const ref = await publish('cache/tamper', 'v1');
    const dest = join(work, 'dest-tamper');
    const cacheDir = join(work, 'cache-tamper');
    const pull = (verifyInstalled: boolean) =>
      pullKernel({
        reference: ref,
        dest,
        arch: 'amd64',
        cacheDir,
        verifyInstalled,
        target: { plainHttp: true },
      });
    const first = await pull(false);
    const metadata = join(dest, 'metadata');
    const original = readFileSync(metadata);
    // Same size, other bytes: the cheap check before every boot does not read content...
    const flipped = Buffer.from(original);
    flipped[0] = flipped[0] === 0x41 ? 0x42 : 0x41;
    chmodSync(metadata, 0o644);
    writeFileSync(metadata, flipped);
    expect((await pull(false)).installed).toBe(false);
    // ...--verify-installed does, and installs the kernel again.
    expect((await pull(true)).installed).toBe(true);
    expect(readFileSync(metadata)).toEqual(original);
    // The repair could not reuse the name DEST pointed at, so its version directory is `<hex>.<random>`;
    // that still holds the manifest, and the next pulls (cheap or re-hashing) find it intact.
    const repaired = readlinkSync(dest);
    expect(repaired).toMatch(
      new RegExp(`^\\.dest-tamper\\.kart/${first.manifestDigest.slice(7)}\\.[0-9a-f]{8}$`),
    );
    const before = requests().length;
    expect(await pull(false)).toMatchObject({ installed: false, manifestDigest: first.manifestDigest });
    expect(
      requests()
        .slice(before)
        .map((r) => `${r.method} ${r.path}`),
    ).toEqual(['HEAD /v2/cache/tamper/manifests/v1']);
    expect((await pull(true)).installed).toBe(false);
    expect(readlinkSync(dest)).toBe(repaired);
  });

  it('fromCache is per file: a tag sharing the config and metadata layers with a cached one downloads only its kernel', async () => {
    const cacheDir = join(work, 'cache-shared');
    const pull = (ref: string, dest: string) =>
      pullKernel({
        reference: ref,
        dest: join(work, dest),
        arch: 'amd64',
        cacheDir,
        target: { plainHttp: true },
      });
    const first = await pull(await publish('cache/shared', 'a', { release: '6.1.99-a' }), 'dest-shared-a');
    const byName = (result: Awaited<ReturnType<typeof pull>>) =>
      Object.fromEntries(result.files.map((file) => [file.name, file.fromCache]));
    expect(byName(first)).toEqual({ kernel: false, config: false, metadata: false });
    // Another release: another kernel layer (and index and manifest); the same config.gz and metadata.
    const second = await pull(await publish('cache/shared', 'b', { release: '6.1.99-b' }), 'dest-shared-b');
    expect(second.installed).toBe(true);
    expect(byName(second)).toEqual({ kernel: false, config: true, metadata: true });
    expect(second.blobs.filter((blob) => !blob.fromCache).map((blob) => blob.digest)).toEqual([
      second.digest,
      second.manifestDigest,
      expect.any(String),
    ]);
  });

  it('a moved tag installs the new digest; --offline installs the last pulled one with the registry stopped', async () => {
    const own = await startRegistry();
    const ref = `${own.host}/offline/kernel:stable`;
    await storeKernelTag(layout, 'off1', { release: '6.1.99-one' });
    await copyReference(`oci:${layout.root}:off1`, ref, { plainHttp: true });
    const dest = join(work, 'dest-offline');
    const cacheDir = join(work, 'cache-offline');
    const first = await pullKernel({
      reference: ref,
      dest,
      arch: 'arm64',
      cacheDir,
      target: { plainHttp: true },
    });
    await storeKernelTag(layout, 'off2', { release: '6.1.99-two' });
    await copyReference(`oci:${layout.root}:off2`, ref, { plainHttp: true });
    const second = await pullKernel({
      reference: ref,
      dest,
      arch: 'arm64',
      cacheDir,
      target: { plainHttp: true },
    });
    expect(second.manifestDigest).not.toBe(first.manifestDigest);
    expect(readFileSync(join(dest, 'kernel'))).toEqual(expectedFiles('arm64', 'kart', '6.1.99-two').kernel);
    await own.stop();

    const offlineDest = join(work, 'dest-offline-2');
    const offline = await pullKernel({
      reference: ref,
      dest: offlineDest,
      arch: 'arm64',
      cacheDir,
      offline: true,
    });
    expect(offline).toMatchObject({ offline: true, installed: true, manifestDigest: second.manifestDigest });
    expect(readFileSync(join(offlineDest, 'kernel'))).toEqual(
      expectedFiles('arm64', 'kart', '6.1.99-two').kernel,
    );
    await expect(
      pullKernel({
        reference: `${own.host}/offline/other:1`,
        dest: join(work, 'never'),
        cacheDir,
        offline: true,
      }),
    ).rejects.toMatchObject({
      code: 'OFFLINE_NOT_CACHED',
      message: `${own.host}/offline/other:1 has never been pulled into the cache ${cacheDir}`,
    });
    expect(lstatSync(join(work, 'never'), { throwIfNoEntry: false })).toBeUndefined();
  });
});

describe('pullKernel refusals leave DEST unchanged', () => {
  async function installedBaseline(
    name: string,
  ): Promise<{ ref: string; dest: string; cacheDir: string; snapshot: () => unknown }> {
    const ref = await publish('refuse/base', 'base');
    const dest = join(work, `dest-${name}`);
    const cacheDir = join(work, `cache-${name}`);
    await pullKernel({ reference: ref, dest, arch: 'amd64', cacheDir, target: { plainHttp: true } });
    const snapshot = () => ({
      link: readlinkSync(dest),
      files: readdirSync(dest)
        .sort()
        .map((f) => [f, readFileSync(join(dest, f)).toString('hex')]),
    });
    return { ref, dest, cacheDir, snapshot };
  }

  it('wrong arch: names the platforms the index has', async () => {
    const ref = await publish('refuse/amd-only', 'x', { arches: ['amd64'] });
    const { dest, cacheDir, snapshot } = await installedBaseline('wrong-arch');
    const before = snapshot();
    await expect(
      pullKernel({ reference: ref, dest, arch: 'arm64', cacheDir, target: { plainHttp: true } }),
    ).rejects.toMatchObject({
      code: 'PLATFORM_NOT_FOUND',
      exitCode: 1,
      message: `${ref} has no linux/arm64 kernel; it has linux/amd64`,
    });
    expect(snapshot()).toEqual(before);
  });

  it('flavor failure: REQUIREMENTS_UNMET, nothing installed', async () => {
    const ref = await publish('refuse/flavor', 'f', { release: '6.1.99-flavor' });
    const { dest, cacheDir, snapshot } = await installedBaseline('flavor');
    const before = snapshot();
    const failure = await pullKernel({
      reference: ref,
      dest,
      arch: 'amd64',
      cacheDir,
      flavor: 'zone',
      target: { plainHttp: true },
    }).catch((e: unknown) => e);
    expect(failure).toMatchObject({ code: 'REQUIREMENTS_UNMET', exitCode: 1 });
    expect(snapshot()).toEqual(before);
  });

  it('flavor failure when DEST already holds the manifest: REQUIREMENTS_UNMET all the same, DEST untouched', async () => {
    const { ref, dest, cacheDir, snapshot } = await installedBaseline('flavor-held');
    const before = snapshot();
    const pull = (flavor: string) =>
      pullKernel({ reference: ref, dest, arch: 'amd64', cacheDir, flavor, target: { plainHttp: true } });
    const failure = await pull('zone').catch((e: unknown) => e);
    const manifestDigest = JSON.parse(readFileSync(join(dest, 'kart.json'), 'utf8')).manifestDigest;
    expect(failure).toMatchObject({
      code: 'REQUIREMENTS_UNMET',
      exitCode: 1,
      message: expect.stringMatching(
        new RegExp(`^the kernel installed in ${dest} \\(${manifestDigest}\\) does not meet flavor zone: `),
      ),
      hint: `${dest} was left as it was; pull a kernel built for this flavor`,
    });
    expect(snapshot()).toEqual(before);
    // A flavor the installed config meets: nothing to do, as without --flavor.
    const xen = join(work, 'xen-only.ini');
    writeFileSync(xen, 'description = needs Xen\n\n[require]\nCONFIG_XEN = y\n');
    expect(await pull(xen)).toMatchObject({ installed: false, manifestDigest });
    expect(snapshot()).toEqual(before);
  });

  it('digest mismatch from the registry: refused, the blob never enters the cache', async () => {
    const ref = await publish('refuse/tamper', 't', { release: '6.1.99-tamper' });
    const { dest, cacheDir, snapshot } = await installedBaseline('tamper');
    const before = snapshot();
    // Corrupt the kernel layer in the registry's own storage (same size, other bytes).
    const index = JSON.parse((await readBlobFromLayout('t')).toString());
    const manifest = JSON.parse(readFileSync(layout.blobPath(index.manifests[1].digest)).toString());
    const layer = manifest.layers[0];
    const hex = layer.digest.slice(7);
    const data = join(registry.storageDir, 'docker/registry/v2/blobs/sha256', hex.slice(0, 2), hex, 'data');
    const bytes = readFileSync(data);
    bytes[bytes.length - 1] = (bytes[bytes.length - 1] as number) ^ 0xff;
    writeFileSync(data, bytes);
    await expect(
      pullKernel({ reference: ref, dest, arch: 'amd64', cacheDir, target: { plainHttp: true } }),
    ).rejects.toMatchObject({
      code: 'DIGEST_MISMATCH',
      exitCode: 1,
    });
    expect(snapshot()).toEqual(before);
    expect(lstatSync(join(cacheDir, 'blobs/sha256', hex), { throwIfNoEntry: false })).toBeUndefined();
    expect(readdirSync(join(cacheDir, '.kart-ingest'))).toEqual([]);
  });
});

async function readBlobFromLayout(tag: string): Promise<Buffer> {
  const desc = await layout.resolve(tag);
  return readFileSync(layout.blobPath(desc.digest));
}
