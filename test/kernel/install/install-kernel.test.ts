import {
  createReadStream,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  readlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { beforeEach, describe, expect, it } from 'vitest';
import { installAreaDir, installKernel } from '../../../src/kernel/install/index.ts';
import { openLayout, type OciLayout } from '../../../src/oci/layout.ts';
import type { Descriptor } from '../../../src/oci/index.ts';
import {
  CONFIG_TEXT,
  kartLayers,
  kernelFor,
  metadataFor,
  rawTar,
  sha256,
  storeImage,
  type CraftedLayer,
  type RawEntry,
} from './crafted-images.ts';
import { kartErrorOf } from '../../support/kart-error.ts';

let root: string;
let layout: OciLayout;
let dest: string;

beforeEach(async () => {
  root = mkdtempSync(join(tmpdir(), 'kart-install-'));
  layout = await openLayout(join(root, 'layout'), { create: true });
  dest = join(root, 'dest');
});

async function install(manifest: Descriptor, extra: { flavor?: string } = {}) {
  return installKernel({ source: layout, manifest, dest, reference: 'oci:test:1', arch: 'amd64', ...extra });
}

const failure = (promise: Promise<unknown>) => kartErrorOf(promise);

/** Every file under DEST (through its symlink) and its bytes, plus where DEST points. */
function snapshot(): { link: string; files: Record<string, string> } {
  const files: Record<string, string> = {};
  for (const name of readdirSync(dest).sort()) files[name] = sha256(readFileSync(join(dest, name)));
  return { link: readlinkSync(dest), files };
}

describe('installKernel', () => {
  it('installs kernel, config (uncompressed), metadata and kart.json behind a symlink to a version dir', async () => {
    const manifest = await storeImage(
      layout,
      kartLayers('amd64', Buffer.from('hsqs-not-checked-at-install')),
    );
    const result = await install(manifest);
    expect(readlinkSync(dest)).toBe(`.dest.kart/${manifest.digest.slice(7)}`);
    expect(readdirSync(dest).sort()).toEqual([
      'addons.squashfs',
      'config',
      'kart.json',
      'kernel',
      'metadata',
    ]);
    expect(readFileSync(join(dest, 'kernel'))).toEqual(kernelFor('amd64'));
    expect(readFileSync(join(dest, 'config'), 'utf8')).toBe(CONFIG_TEXT);
    expect(readFileSync(join(dest, 'metadata'), 'utf8')).toBe(metadataFor('x86_64'));
    const record = JSON.parse(readFileSync(join(dest, 'kart.json'), 'utf8')) as Record<string, unknown>;
    expect(record).toMatchObject({
      reference: 'oci:test:1',
      manifestDigest: manifest.digest,
      platform: { os: 'linux', architecture: 'amd64' },
    });
    expect(result.files.map((f) => [f.name, f.digest])).toEqual([
      ['kernel', sha256(kernelFor('amd64'))],
      ['config', sha256(CONFIG_TEXT)],
      ['addons.squashfs', sha256('hsqs-not-checked-at-install')],
      ['metadata', sha256(metadataFor('x86_64'))],
    ]);
  });

  it('swaps a new version in and removes the old one and any leftover staging', async () => {
    const first = await storeImage(layout, kartLayers('amd64'));
    await install(first);
    mkdirSync(join(installAreaDir(dest), '.staging-deadbeef0000'));
    const second = await storeImage(layout, [
      ...kartLayers('amd64'),
      rawTar([{ path: 'kernel/extra', body: 'x' }]),
    ]);
    await install(second);
    expect(readlinkSync(dest)).toBe(`.dest.kart/${second.digest.slice(7)}`);
    expect(readdirSync(installAreaDir(dest)).filter((n) => !n.startsWith('.kart-index'))).toEqual([
      second.digest.slice(7),
    ]);
    // Reinstalling the same manifest swaps to a fresh copy too.
    await install(second);
    expect(readFileSync(join(dest, 'kernel'))).toEqual(kernelFor('amd64'));
  });

  it('applies layers in order with whiteouts and opaque directories; reads gzip and zstd layers', async () => {
    const manifest = await storeImage(layout, [
      {
        bytes: rawTar([
          { path: 'kernel/', type: '5' },
          { path: 'kernel/image', body: 'old kernel' },
          { path: 'kernel/metadata', body: 'stale' },
        ]),
        compression: 'gzip',
      },
      {
        bytes: rawTar([{ path: 'kernel/.wh.metadata' }, { path: 'kernel/image', body: kernelFor('amd64') }]),
        compression: 'zstd',
      },
      rawTar([{ path: './kernel/config.gz', body: gzipSync(CONFIG_TEXT) }]),
    ]);
    const result = await install(manifest);
    expect(result.files.map((f) => f.name)).toEqual(['kernel', 'config']);
    expect(readFileSync(join(dest, 'kernel'))).toEqual(kernelFor('amd64'));

    const opaque = await storeImage(layout, [
      rawTar([
        { path: 'kernel/', type: '5' },
        { path: 'kernel/image', body: kernelFor('amd64') },
        { path: 'kernel/metadata', body: 'stale' },
      ]),
      rawTar([
        { path: 'kernel/', type: '5' },
        { path: 'kernel/.wh..wh..opq' },
        { path: 'kernel/image', body: kernelFor('amd64') },
      ]),
    ]);
    expect((await install(opaque)).files.map((f) => f.name)).toEqual(['kernel']);
  });

  it('installs a LinuxKit kernel image (kernel, kernel-dev.tar with the .config, kernel.tar)', async () => {
    const dev = rawTar([{ path: 'usr/src/linux-headers-6.1.99/.config', body: CONFIG_TEXT }]);
    const modules = rawTar([{ path: 'lib/modules/6.1.99/modules.dep', body: '' }]);
    const manifest = await storeImage(layout, [
      rawTar([
        { path: 'kernel', body: kernelFor('amd64') },
        { path: 'kernel-dev.tar', body: dev },
        { path: 'kernel.tar', body: modules },
        { path: 'System.map', body: 'x' },
      ]),
    ]);
    const result = await install(manifest);
    expect(result.format).toBe('linuxkit');
    expect(readdirSync(dest).sort()).toEqual(['config', 'kart.json', 'kernel', 'kernel.tar']);
    expect(readFileSync(join(dest, 'config'), 'utf8')).toBe(CONFIG_TEXT);
    expect(readFileSync(join(dest, 'kernel.tar'))).toEqual(modules);
  });

  it('refuses a non-empty directory kart did not make, and leaves it alone', async () => {
    mkdirSync(dest);
    writeFileSync(join(dest, 'precious'), 'user data');
    const error = await failure(install(await storeImage(layout, kartLayers())));
    expect(error.code).toBe('DEST_UNUSABLE');
    expect(error.message).toBe(`destination ${dest} is a directory kart did not make, and it is not empty`);
    expect(readFileSync(join(dest, 'precious'), 'utf8')).toBe('user data');
  });

  it('with adopt, moves a populated directory aside once (kept whole), then installs', async () => {
    mkdirSync(dest);
    writeFileSync(join(dest, 'initrd'), 'krata initrd');
    writeFileSync(join(dest, 'kernel'), 'old kernel');
    const first = await installKernel({
      source: layout,
      manifest: await storeImage(layout, kartLayers()),
      dest,
      arch: 'amd64',
      adopt: true,
    });
    expect(first.adopted).toBe(`${dest}.pre-kart`);
    expect(readdirSync(`${dest}.pre-kart`).sort()).toEqual(['initrd', 'kernel']);
    expect(readFileSync(join(`${dest}.pre-kart`, 'kernel'), 'utf8')).toBe('old kernel');
    expect(readFileSync(join(dest, 'kernel'))).toEqual(kernelFor('amd64'));
    // DEST is kart's now: a second install with adopt moves nothing.
    const second = await installKernel({
      source: layout,
      manifest: await storeImage(layout, kartLayers('amd64', Buffer.from('addons'))),
      dest,
      arch: 'amd64',
      adopt: true,
    });
    expect(second.adopted).toBeUndefined();
    expect(readdirSync(root).sort()).toEqual(['.dest.kart', 'dest', 'dest.pre-kart', 'layout']);
  });

  it('with adopt, a failed install leaves the populated directory where it was', async () => {
    mkdirSync(dest);
    writeFileSync(join(dest, 'initrd'), 'krata initrd');
    const [image, config] = kartLayers();
    const error = await failure(
      installKernel({
        source: layout,
        manifest: await storeImage(layout, [
          image!,
          config!,
          rawTar([{ path: 'kernel/metadata', body: 'x' }]),
        ]),
        dest,
        arch: 'amd64',
        adopt: true,
      }),
    );
    expect(error.code).toBe('METADATA_INVALID');
    expect(lstatSync(dest).isDirectory()).toBe(true);
    expect(readdirSync(dest)).toEqual(['initrd']);
    // and no empty install area beside it
    expect(readdirSync(root).sort()).toEqual(['dest', 'layout']);
  });

  describe('refuses inconsistent kernels, DEST unchanged', () => {
    const cases: [string, () => (Buffer | CraftedLayer)[], string, RegExp][] = [
      [
        'metadata for another arch',
        () => [
          ...kartLayers().slice(0, 2),
          rawTar([{ path: 'kernel/metadata', body: metadataFor('aarch64') }]),
        ],
        'KERNEL_ARTIFACT_INVALID',
        /kernel\/metadata says KERNEL_ARCH=aarch64, but the platform is linux\/amd64/,
      ],
      [
        'a config whose sha256 is not KERNEL_CONFIG',
        () => [
          kartLayers()[0]!,
          rawTar([{ path: 'kernel/config.gz', body: gzipSync('CONFIG_OTHER=y\n') }]),
          kartLayers()[2]!,
        ],
        'KERNEL_ARTIFACT_INVALID',
        /KERNEL_CONFIG=sha256:[0-9a-f]{64}, but the config's sha256 is sha256:[0-9a-f]{64}/,
      ],
      [
        'an arm64 kernel image on the amd64 platform',
        () => [rawTar([{ path: 'kernel/image', body: kernelFor('arm64') }])],
        'KERNEL_ARTIFACT_INVALID',
        /is for linux\/amd64, but its kernel image is aarch64/,
      ],
      [
        'no kernel at all',
        () => [rawTar([{ path: 'etc/motd', body: 'hi' }])],
        'KERNEL_ARTIFACT_INVALID',
        /holds no kernel/,
      ],
    ];
    for (const [name, layers, code, message] of cases) {
      it(name, async () => {
        await install(await storeImage(layout, kartLayers()));
        const before = snapshot();
        const error = await failure(install(await storeImage(layout, layers())));
        expect(error.code).toBe(code);
        expect(error.exitCode).toBe(1);
        expect(error.message).toMatch(message);
        expect(snapshot()).toEqual(before);
      });
    }
  });

  describe('a malicious-layer corpus: each refused, nothing written outside staging, DEST unchanged', () => {
    const good = (): RawEntry[] => [
      { path: 'kernel/', type: '5' },
      { path: 'kernel/image', body: kernelFor('amd64') },
    ];
    const cases: [string, () => Buffer | CraftedLayer, string, string][] = [
      [
        '../ escape',
        () => rawTar([...good(), { path: 'kernel/../../escaped', body: 'x' }]),
        'LAYER_ENTRY_REFUSED',
        'entry "kernel/../../escaped" refused: its path holds "..", which leads outside the image',
      ],
      [
        'absolute path',
        () => rawTar([...good(), { path: '/tmp/kart-absolute', body: 'x' }]),
        'LAYER_ENTRY_REFUSED',
        'entry "/tmp/kart-absolute" refused: its path is absolute',
      ],
      [
        'symlink to / then a file through it',
        () =>
          rawTar([
            ...good(),
            { path: 'kernel/root', type: '2', linkname: '/' },
            { path: 'kernel/root/tmp/x', body: 'x' },
          ]),
        'LAYER_ENTRY_REFUSED',
        'entry "kernel/root" refused: it is a symlink to the absolute path /, which leads outside the image',
      ],
      [
        'relative symlink out, then a file through it',
        () => rawTar([...good(), { path: 'kernel/up', type: '2', linkname: '../..' }]),
        'LAYER_ENTRY_REFUSED',
        'entry "kernel/up" refused: it is a symlink to ../.., which leads outside the image',
      ],
      [
        'symlink inside, then a file through it',
        () =>
          rawTar([
            ...good(),
            { path: 'kernel/in', type: '2', linkname: '.' },
            { path: 'kernel/in/image', body: 'x' },
          ]),
        'LAYER_ENTRY_REFUSED',
        'entry "kernel/in/image" refused: its parent kernel/in is a symlink, so the entry would be written through it',
      ],
      [
        'hardlink to outside',
        () => rawTar([...good(), { path: 'kernel/metadata', type: '1', linkname: '../../etc/passwd' }]),
        'LAYER_ENTRY_REFUSED',
        'entry "kernel/metadata" refused: it is a hardlink to ../../etc/passwd, which is outside the image',
      ],
      [
        'character device',
        () => rawTar([...good(), { path: 'kernel/null', type: '3' }]),
        'LAYER_ENTRY_REFUSED',
        'entry "kernel/null" refused: it is a device node',
      ],
      [
        'huge size claim',
        () => rawTar([...good(), { path: 'kernel/metadata', body: 'x', claimedSize: 8 ** 11 - 1 }], false),
        'LAYER_ENTRY_REFUSED',
        'entry "kernel/metadata" refused: it claims 8589934591 bytes, more than its whole layer holds',
      ],
      [
        'duplicated entry',
        () => rawTar([...good(), { path: 'kernel/image', body: 'second' }]),
        'LAYER_ENTRY_REFUSED',
        'entry "kernel/image" refused: the path appears twice in this layer',
      ],
      [
        'digest mismatch (blob corrupted at rest)',
        () => ({ bytes: rawTar(good()), lie: { digest: sha256('something else') } }),
        'DIGEST_MISMATCH',
        `content digest is ${sha256(rawTar(good()))}, expected ${sha256('something else')}`,
      ],
      [
        'size mismatch',
        () => ({ bytes: rawTar(good()), lie: { size: rawTar(good()).length - 512 } }),
        'SIZE_MISMATCH',
        `content is more than ${rawTar(good()).length - 512} bytes, expected ${rawTar(good()).length - 512}`,
      ],
    ];
    it('digest mismatch from a source that does not verify: the install core verifies it itself', async () => {
      await install(await storeImage(layout, kartLayers()));
      const before = snapshot();
      const manifest = await storeImage(layout, [
        { bytes: rawTar(good()), lie: { digest: sha256('something else') } },
      ]);
      // Raw blob files: no store verification, so no "verified" mark on the stream.
      const raw = { fetch: async (desc: Descriptor) => createReadStream(layout.blobPath(desc.digest)) };
      const error = await failure(
        installKernel({ source: raw, manifest, dest, reference: 'oci:test:1', arch: 'amd64' }),
      );
      expect(error.code).toBe('DIGEST_MISMATCH');
      expect(error.message).toContain(`content digest is ${sha256(rawTar(good()))}`);
      expect(snapshot()).toEqual(before);
    });

    for (const [name, layer, code, message] of cases) {
      it(name, async () => {
        await install(await storeImage(layout, kartLayers()));
        const before = snapshot();
        const areaBefore = readdirSync(installAreaDir(dest)).sort();
        const error = await failure(install(await storeImage(layout, [layer()])));
        expect(error.code).toBe(code);
        expect(error.exitCode).toBe(1);
        expect(error.message).toContain(message);
        expect(snapshot()).toEqual(before);
        expect(readdirSync(installAreaDir(dest)).sort()).toEqual(areaBefore);
        expect(readdirSync(root).sort()).toEqual(['.dest.kart', 'dest', 'layout']);
        expect(lstatSync(dest).isSymbolicLink()).toBe(true);
      });
    }
  });
});
