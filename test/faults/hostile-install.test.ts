/**
 * Issue 17, defects 3, 4, 5, 8, 9, 10, 12 (and issue 11's empty `.DEST.kart`): crafted layers that
 * expand without end, hold tens of thousands of entries or hardlink the kernel; planted and shared
 * install areas; locks of live and dead owners; a full disk and an exhausted inode table (small tmpfs
 * mounts: the tests run as root). Limits are shrunk through installKernel's options where the real
 * ones would take long; test/hostile/ runs the long forms with the defaults.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import {
  chmodSync,
  existsSync,
  lchownSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  symlinkSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { gzipSync, zstdCompressSync } from 'node:zlib';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { installAreaDir, installKernel } from '../../src/kernel/install/index.ts';
import type { InstallLimits } from '../../src/kernel/install/install-limits.ts';
import { intactInstall } from '../../src/kernel/pull/installed-state.ts';
import { LOCK_FILE_NAME, processStartTime, withLayoutLock } from '../../src/oci/layout-lock.ts';
import { localScope } from '../../src/oci/process-owner.ts';
import { openLayout, type OciLayout } from '../../src/oci/layout.ts';
import type { Descriptor } from '../../src/oci/index.ts';
import {
  kartLayers,
  kernelFor,
  rawTar,
  sha256,
  storeImage,
  type RawEntry,
} from '../kernel/install/crafted-images.ts';
import { kartErrorOf } from '../support/kart-error.ts';
import { withTmpfs } from '../support/small-tmpfs.ts';

let root: string;
let layout: OciLayout;
let dest: string;

beforeEach(async () => {
  root = mkdtempSync(join(tmpdir(), 'kart-hostile-install-'));
  layout = await openLayout(join(root, 'layout'), { create: true });
  dest = join(root, 'dest');
});

function install(manifest: Descriptor, limits?: Partial<InstallLimits>, to = dest) {
  return installKernel({ source: layout, manifest, dest: to, arch: 'amd64', ...(limits ? { limits } : {}) });
}

const dir: RawEntry = { path: 'kernel/', type: '5' };
/** The kart layers with the kernel layer replaced. */
function withKernelLayer(kernelLayer: Buffer, compression: 'none' | 'gzip' | 'zstd' = 'none') {
  const [, config, metadata] = kartLayers('amd64');
  return [{ bytes: kernelLayer, compression }, config!, metadata!];
}

describe('defect 3: decompression bombs are refused while streaming, before the disk fills', () => {
  it('a zstd layer whose kernel/image claims 1 GiB is refused at its header (default limits)', async () => {
    const layer = rawTar([dir, { path: 'kernel/image', body: '', claimedSize: 1024 ** 3 }], false);
    const manifest = await storeImage(layout, withKernelLayer(layer, 'zstd'));
    const error = await kartErrorOf(install(manifest));
    expect(error.code).toBe('LAYER_ENTRY_REFUSED');
    expect(error.exitCode).toBe(1);
    expect(error.message).toContain('over the 268435456-byte limit for kernel/image');
  });

  it('a kernel larger than its limit is refused, nothing is written', async () => {
    const big = Buffer.concat([kernelFor('amd64'), Buffer.alloc(300 * 1024)]);
    const manifest = await storeImage(
      layout,
      withKernelLayer(rawTar([dir, { path: 'kernel/image', body: big }]), 'gzip'),
    );
    const error = await kartErrorOf(install(manifest, { kernelBytes: 256 * 1024 }));
    expect(error.code).toBe('LAYER_ENTRY_REFUSED');
    expect(existsSync(dest)).toBe(false);
  });

  it('a gzip layer expanding past its bound fails LAYER_INVALID while decompressing', async () => {
    const junk = rawTar([{ path: 'junk', body: Buffer.alloc(3 * 1024 * 1024) }]);
    const manifest = await storeImage(layout, [{ bytes: junk, compression: 'gzip' }, ...kartLayers('amd64')]);
    const error = await kartErrorOf(install(manifest, { layerFloorBytes: 1024 * 1024, layerExpansion: 4 }));
    expect(error.code).toBe('LAYER_INVALID');
    expect(error.exitCode).toBe(1);
    expect(error.message).toMatch(/decompresses to more than 1048576 bytes/);
  });

  it('a config.gz expanding past the config limit is refused', async () => {
    const bomb = gzipSync(Buffer.alloc(2 * 1024 * 1024, '#'));
    const [kernel, , metadata] = kartLayers('amd64');
    const manifest = await storeImage(layout, [
      kernel!,
      rawTar([dir, { path: 'kernel/config.gz', body: bomb }]),
      metadata!,
    ]);
    const error = await kartErrorOf(install(manifest, { configBytes: 1024 * 1024 }));
    expect(error.code).toBe('KERNEL_ARTIFACT_INVALID');
    expect(error.message).toContain('kernel/config.gz decompresses to more than 1048576 bytes');
  });
});

describe('defect 8: layer apply is linear, and entries and pax headers are bounded', () => {
  it('a layer of 20,000 empty files installs', { timeout: 30_000 }, async () => {
    const many: RawEntry[] = Array.from({ length: 20_000 }, (_, i) => ({ path: `junk/${i}` }));
    const manifest = await storeImage(layout, [
      { bytes: rawTar([{ path: 'junk/', type: '5' }, ...many]), compression: 'gzip' },
      ...kartLayers('amd64'),
    ]);
    expect((await install(manifest)).files.map((f) => f.name)).toEqual(['kernel', 'config', 'metadata']);
  });

  it('a layer with more entries than the bound is refused', async () => {
    const many: RawEntry[] = Array.from({ length: 50 }, (_, i) => ({ path: `junk${i}` }));
    const manifest = await storeImage(layout, [rawTar(many), ...kartLayers('amd64')]);
    const error = await kartErrorOf(install(manifest, { layerEntries: 20 }));
    expect(error.code).toBe('LAYER_ENTRY_REFUSED');
    expect(error.message).toContain('more than 20 entries');
  });

  it('300 global pax headers are refused as TAR_INVALID', async () => {
    const pax = (i: number): RawEntry => ({ path: `pax${i}`, body: '6 a=b\n' });
    const layer = rawTar(Array.from({ length: 300 }, (_, i) => pax(i)));
    // Mark every entry a global pax header ('g'): rawTar writes '0', so patch the typeflag and checksum.
    const patched = patchTypeflags(layer, 'g');
    const manifest = await storeImage(layout, [patched, ...kartLayers('amd64')]);
    const error = await kartErrorOf(install(manifest));
    expect(error.code).toBe('TAR_INVALID');
    expect(error.message).toContain('more than 16 global pax headers');
  });
});

/** Rewrites the typeflag of every header of a rawTar archive (bodies are one block each here). */
function patchTypeflags(tar: Buffer, flag: string): Buffer {
  const out = Buffer.from(tar);
  for (let at = 0; at + 512 <= out.length; at += 1024) {
    if (out.subarray(at, at + 512).every((b) => b === 0)) break;
    out.write(flag, at + 156, 'latin1');
    out.fill(0x20, at + 148, at + 156);
    let sum = 0;
    for (let i = at; i < at + 512; i++) sum += out[i]!;
    out.write(`${sum.toString(8).padStart(6, '0')}\0 `, at + 148, 'latin1');
  }
  return out;
}

describe('defect 9: the error taxonomy of damaged layers and full disks', () => {
  for (const compression of ['gzip', 'zstd'] as const) {
    it(`a ${compression} layer that does not decompress is LAYER_INVALID (exit 1)`, async () => {
      const good =
        compression === 'gzip'
          ? gzipSync(kartLayers('amd64')[0]!)
          : zstdCompressSync(kartLayers('amd64')[0]!);
      const broken = Buffer.concat([good.subarray(0, 40), Buffer.alloc(200, 0xa5), good.subarray(240)]);
      const [, config, metadata] = kartLayers('amd64');
      const manifest = await storeImage(layout, [
        { bytes: broken, compression, stored: true },
        config!,
        metadata!,
      ]);
      const error = await kartErrorOf(install(manifest));
      expect(error.code).toBe('LAYER_INVALID');
      expect(error.exitCode).toBe(1);
      expect(error.message).toContain('does not decompress');
    });
  }

  it('a full disk under DEST is DISK_FULL (exit 2) naming the install area', async () => {
    const big = Buffer.concat([kernelFor('amd64'), Buffer.alloc(3 * 1024 * 1024, 1)]);
    const manifest = await storeImage(
      layout,
      withKernelLayer(rawTar([dir, { path: 'kernel/image', body: big }])),
    );
    await withTmpfs({ size: '2m' }, async (mount) => {
      const error = await kartErrorOf(install(manifest, undefined, join(mount, 'dest')));
      expect(error.code).toBe('DISK_FULL');
      expect(error.exitCode).toBe(2);
      expect(error.message).toContain(join(mount, '.dest.kart'));
      // Nothing half-written is left: no DEST, no area.
      expect(readdirSync(mount)).toEqual([]);
    });
  });
});

describe('defect 10: running out of inodes is INODES_EXHAUSTED, not a damaged image', () => {
  it('names the install area and exits 2', async () => {
    const manifest = await storeImage(layout, kartLayers('amd64'));
    // root, the area, its lock and staging fit; the first kept file does not.
    await withTmpfs({ nrInodes: 4 }, async (mount) => {
      const error = await kartErrorOf(install(manifest, undefined, join(mount, 'dest')));
      expect(error.code).toBe('INODES_EXHAUSTED');
      expect(error.exitCode).toBe(2);
      expect(error.message).toContain(join(mount, '.dest.kart'));
    });
  });
});

describe('defect 12: a kernel/image stored as a hardlink', () => {
  it('resolves within its layer and installs the linked bytes', async () => {
    const kernel = kernelFor('amd64');
    const layer = rawTar([
      { path: 'boot/', type: '5' },
      { path: 'boot/vmlinuz', body: kernel },
      dir,
      { path: 'kernel/image', type: '1', linkname: 'boot/vmlinuz' },
    ]);
    const manifest = await storeImage(layout, withKernelLayer(layer, 'gzip'));
    const result = await install(manifest);
    expect(result.files.find((f) => f.name === 'kernel')?.digest).toBe(sha256(kernel));
    expect(readFileSync(join(dest, 'kernel')).equals(kernel)).toBe(true);
  });
});

describe('defect 5: a planted or shared install area is not trusted', () => {
  it('a .dest.kart that is a symlink is refused, and nothing where it leads is touched', async () => {
    const elsewhere = join(root, 'elsewhere');
    mkdirSync(join(elsewhere, '.staging-0123456789ab'), { recursive: true });
    writeFileSync(join(elsewhere, 'precious'), 'keep me');
    symlinkSync(elsewhere, installAreaDir(dest));
    const error = await kartErrorOf(install(await storeImage(layout, kartLayers('amd64'))));
    expect(error.code).toBe('INSTALL_AREA_UNTRUSTED');
    expect(error.message).toContain(`${installAreaDir(dest)} is a symlink`);
    expect(readdirSync(elsewhere).sort()).toEqual(['.staging-0123456789ab', 'precious']);
  });

  it('a group-writable .dest.kart is refused', async () => {
    mkdirSync(installAreaDir(dest));
    chmodSync(installAreaDir(dest), 0o775);
    const error = await kartErrorOf(install(await storeImage(layout, kartLayers('amd64'))));
    expect(error.code).toBe('INSTALL_AREA_UNTRUSTED');
    expect(error.message).toContain('writable by group or others (mode 775)');
  });

  it('in a sticky shared directory, a version planted by another uid is not the installed kernel', async () => {
    const shared = join(root, 'shared');
    mkdirSync(shared);
    chmodSync(shared, 0o1777);
    const planted = join(shared, 'dest');
    const manifest = await storeImage(layout, kartLayers('amd64'));
    await install(manifest, undefined, planted);
    expect((await intactInstall(planted))?.manifestDigest).toBe(manifest.digest);
    // The same tree, as another user would have planted it.
    for (const path of [planted, installAreaDir(planted)]) lchownSync(path, 65534, 65534);
    for (const name of readdirSync(installAreaDir(planted))) {
      lchownSync(join(installAreaDir(planted), name), 65534, 65534);
    }
    expect(await intactInstall(planted)).toBeUndefined();
    const error = await kartErrorOf(install(manifest, undefined, planted));
    expect(error.code).toBe('DEST_UNUSABLE');
  });

  it('a failed install leaves no empty .dest.kart behind (issue 11)', async () => {
    const manifest = await storeImage(layout, [
      rawTar([{ path: '/etc/passwd', body: 'x' }]),
      ...kartLayers('amd64'),
    ]);
    expect((await kartErrorOf(install(manifest))).code).toBe('LAYER_ENTRY_REFUSED');
    expect(existsSync(installAreaDir(dest))).toBe(false);
  });
});

describe('defect 4: locks know their owner', () => {
  const children: ChildProcess[] = [];
  afterEach(() => {
    for (const child of children.splice(0)) child.kill('SIGKILL');
  });
  function liveProcess(): number {
    const child = spawn('sleep', ['60'], { stdio: 'ignore' });
    children.push(child);
    return child.pid!;
  }
  function plantLock(dir: string, owner: object, ageMs: number): void {
    mkdirSync(dir, { recursive: true });
    const path = join(dir, LOCK_FILE_NAME);
    // An owner of this boot and pid namespace: kart checks its pid.
    const record = { host: hostname(), created: Date.now() - ageMs, ...localScope(), ...owner };
    writeFileSync(path, JSON.stringify(record));
    const then = (Date.now() - ageMs) / 1000;
    utimesSync(path, then, then);
  }

  it('a lock held by a live process is never taken, however old', async () => {
    const pid = liveProcess();
    const lockDir = join(root, 'area');
    plantLock(lockDir, { pid, started: processStartTime(pid) }, 10 * 60_000);
    let ran = false;
    const error = await kartErrorOf(
      withLayoutLock(lockDir, async () => (ran = true), { timeoutMs: 300, staleMs: 1_000 }),
    );
    expect(error.code).toBe('LAYOUT_LOCKED');
    expect(ran).toBe(false);
  });

  it('a lock whose pid now belongs to another process (reused) is taken at once', async () => {
    const pid = liveProcess();
    const lockDir = join(root, 'download');
    plantLock(lockDir, { pid, started: (processStartTime(pid) ?? 0) - 12345 }, 1_000);
    const ran = await withLayoutLock(lockDir, async () => true, { timeoutMs: 300, staleMs: 15 * 60_000 });
    expect(ran).toBe(true);
  });
});
