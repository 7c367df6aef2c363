/**
 * A Kata guest bundle end to end on the real registry: publish a kernel with its rootfs (built from a
 * tree, or given with its kernel_verity_params), pull -k it (image and kernel installed, the root hash
 * recomputed, the knob and kernel lines printed and written beside the image), and the stale cases:
 * an image swapped under the same parameters is refused at publish and at pull, DEST left unchanged.
 */
import {
  chmodSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readlinkSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { packKernel } from '../../src/kernel/artifact/index.ts';
import { openReference } from '../../src/registry/open-target.ts';
import {
  buildRootfsImage,
  prepareGuestBundle,
  kernelCommandLine,
  parseKernelVerityParams,
} from '../../src/guest/index.ts';
import { makeFixtureWorld, PASSING_CONFIG } from '../kernel/publish/publish-fixture.ts';
import { runKart } from '../support/kart-cli.ts';
import { startRegistry, type TestRegistry } from '../support/registry.ts';

const GUEST_CONFIG =
  PASSING_CONFIG +
  [
    ...['MD', 'BLK_DEV_DM', 'DM_INIT', 'DM_VERITY', 'CRYPTO_SHA256', 'VIRTIO_BLK', 'EXT4_FS'],
    // what the DAX (NVDIMM) view needs
    ...['LIBNVDIMM', 'ACPI_NFIT', 'BLK_DEV_PMEM', 'ND_PFN', 'NVDIMM_PFN'],
  ]
    .map((s) => `CONFIG_${s}=y\n`)
    .join('');
const EPOCH = '1700000000';

let registry: TestRegistry;
const world = makeFixtureWorld();
const work = mkdtempSync(join(tmpdir(), 'kart-bundle-'));
beforeAll(async () => {
  registry = await startRegistry();
});
afterAll(async () => {
  await registry?.stop();
  rmSync(work, { recursive: true, force: true });
  rmSync(world.root, { recursive: true, force: true });
});

const kart = (args: string[]) => runKart(args, { env: { ...process.env, SOURCE_DATE_EPOCH: EPOCH } });
const pullK = (ref: string, ...args: string[]) =>
  kart([
    'pull',
    '-k',
    ref,
    '--dest',
    join(work, 'dest'),
    '--cache',
    join(work, 'cache'),
    '--arch',
    'amd64',
    ...args,
  ]);
const publish = (build: string, to: string, args: string[]) =>
  kart(['publish', build, '--flavor', world.flavor, '--to', to, ...args]);

function tree(name: string, text: string): string {
  const root = join(work, name);
  mkdirSync(join(root, 'sbin'), { recursive: true });
  writeFileSync(join(root, 'sbin/init'), '#!/bin/sh\n', { mode: 0o755 });
  writeFileSync(join(root, 'motd'), text);
  chmodSync(root, 0o755);
  return root;
}

async function manifestOf(
  repo: string,
  tag: string,
): Promise<{
  annotations: Record<string, string>;
  layers: Array<{ size: number; annotations?: Record<string, string> }>;
}> {
  const index = (await (
    await fetch(`${registry.url}/v2/${repo}/manifests/${tag}`, {
      headers: { accept: 'application/vnd.oci.image.index.v1+json' },
    })
  ).json()) as {
    manifests: Array<{ digest: string }>;
  };
  const response = await fetch(`${registry.url}/v2/${repo}/manifests/${index.manifests[0]!.digest}`, {
    headers: { accept: 'application/vnd.oci.image.manifest.v1+json' },
  });
  return (await response.json()) as never;
}

describe('guest bundles', () => {
  it('publish --rootfs-dir → pull -k: kernel and image installed, root hash rechecked, knob and lines beside it', async () => {
    const build = world.build({ release: '6.1.10-guest', config: GUEST_CONFIG });
    const rootfs = tree('good', 'good\n');
    const repo = `${registry.host}/guest-kernel`;
    const published = await publish(build, repo, ['--rootfs-dir', rootfs, '--rootfs-align', '8', '--json']);
    expect(published.stderr).toBe('');
    expect(published.code).toBe(0);

    const manifest = await manifestOf('guest-kernel', '6.1.10');
    const knob = manifest.annotations['io.katacontainers.config.hypervisor.kernel_verity_params']!;
    const params = parseKernelVerityParams(knob)!;
    expect(manifest.annotations).toMatchObject({
      'dev.edera.kernel.rootfs.fstype': 'ext4',
      'dev.edera.kernel.rootfs.dax': 'true',
    });
    expect(manifest.layers.map((layer) => layer.annotations?.['dev.edera.kernel.file'])).toEqual([
      'kernel/image',
      'kernel/config.gz',
      'kernel/rootfs.img',
      'kernel/metadata',
    ]);
    // The same tree built locally gives the same image (so the same parameters).
    const local = await buildRootfsImage({
      sourceDir: rootfs,
      output: join(work, 'local.img'),
      dax: true,
      verity: true,
      alignMiB: 8,
      sourceDateEpoch: Number(EPOCH),
    });
    expect(local.kernelVerityParams).toBe(knob);

    const dest = join(work, 'dest');
    const pulled = await pullK(`${repo}:6.1.10`, '--json');
    expect(pulled.stderr).toBe('');
    expect(pulled.code).toBe(0);
    const result = JSON.parse(pulled.stdout) as {
      files: Array<{ name: string }>;
      guest: Record<string, unknown>;
    };
    expect(result.files.map((file) => file.name)).toEqual(['kernel', 'config', 'metadata', 'rootfs.img']);
    const lines = {
      'virtio-blk': kernelCommandLine(params, 'virtio-blk', 'ext4').line,
      nvdimm: kernelCommandLine(params, 'nvdimm', 'ext4').line,
    };
    expect(result.guest).toEqual({
      image: 'rootfs.img',
      fsType: 'ext4',
      dax: true,
      kernelVerityParams: knob,
      kernelCommandLines: lines,
    });
    expect(readFileSync(join(dest, 'rootfs.img')).equals(readFileSync(local.image))).toBe(true);
    expect(readFileSync(join(dest, 'kernel_verity_params'), 'utf8')).toBe(`${knob}\n`);
    expect(readFileSync(join(dest, 'cmdline.nvdimm'), 'utf8')).toBe(`${lines.nvdimm}\n`);
    // Keyed by the manifest digest, never by the tag.
    expect(readlinkSync(dest)).toMatch(/\.dest\.kart\/[0-9a-f]{64}$/);

    const again = await pullK(`${repo}:6.1.10`);
    expect(again.stdout).toContain('unchanged');
    expect(again.stdout).toContain(`kernel_verity_params: ${knob}`);
    expect(again.stdout).toContain(`kernel line (virtio-blk): ${lines['virtio-blk']}`);

    // A bundle whose image was swapped under the same parameters: published directly (publish itself
    // would refuse it), then pulled over the good install.
    const other = await buildRootfsImage({
      sourceDir: tree('other', 'other\n'),
      output: join(work, 'other.img'),
      dax: true,
      verity: true,
      alignMiB: 8,
    });
    expect(other.imageBytes).toBe(local.imageBytes);
    const goodBundle = await prepareGuestBundle({ rootfs: local.image, verityParams: knob }, work);
    const opened = await openReference(`${repo}:stale`, {});
    try {
      await packKernel(
        {
          buildDir: build,
          flavor: world.flavor,
          tags: ['stale'],
          bundle: { ...goodBundle, file: other.image },
        },
        opened.target,
      );
    } finally {
      await opened.close();
    }
    const before = readlinkSync(dest);
    const stale = await pullK(`${repo}:stale`, '--json');
    expect(stale.code).toBe(1);
    expect(JSON.parse(stale.stdout)).toMatchObject({ error: { code: 'BUNDLE_ROOT_HASH_MISMATCH' } });
    expect(readlinkSync(dest)).toBe(before);
    expect(readFileSync(join(dest, 'rootfs.img')).equals(readFileSync(local.image))).toBe(true);

    // The same good image with MBR #2 (the NVDIMM view, at 2 MiB) putting partition 2 one sector later:
    // the root hash still matches MBR #1's view, but /dev/pmem0p2 would not be the tree checked.
    const skewed = join(work, 'skewed.img');
    const bytes = readFileSync(local.image);
    const entry = 2 * 1024 * 1024 + 446 + 16;
    bytes.writeUInt32LE(bytes.readUInt32LE(entry + 8) + 1, entry + 8);
    bytes.writeUInt32LE(bytes.readUInt32LE(entry + 12) - 1, entry + 12);
    writeFileSync(skewed, bytes);
    const refused = await publish(build, `oci:${join(work, 'skewed-layout')}`, [
      '--rootfs',
      skewed,
      '--verity-params',
      knob,
      '--json',
    ]);
    expect(refused.code).toBe(1);
    expect(JSON.parse(refused.stdout)).toMatchObject({ error: { code: 'ROOTFS_DAX_VIEW_INVALID' } });
    const skewedRef = await openReference(`${repo}:skewed`, {});
    try {
      await packKernel(
        { buildDir: build, flavor: world.flavor, tags: ['skewed'], bundle: { ...goodBundle, file: skewed } },
        skewedRef.target,
      );
    } finally {
      await skewedRef.close();
    }
    const pulledSkewed = await pullK(`${repo}:skewed`, '--json');
    expect(pulledSkewed.code).toBe(1);
    expect(JSON.parse(pulledSkewed.stdout)).toMatchObject({ error: { code: 'ROOTFS_DAX_VIEW_INVALID' } });
    expect(readlinkSync(dest)).toBe(before);
  });

  it('publish refuses an image that does not match its --verity-params, and a kernel that cannot boot it', async () => {
    const build = world.build({ release: '6.1.11-guest', config: GUEST_CONFIG });
    const image = await buildRootfsImage({
      sourceDir: tree('third', 'third\n'),
      output: join(work, 'third.img'),
      dax: true,
      verity: true,
      alignMiB: 8,
    });
    const wrong = image.kernelVerityParams!.replace(/root_hash=[0-9a-f]{4}/, 'root_hash=0000');
    const paramsFile = join(work, 'root_hash_kart.txt');
    writeFileSync(paramsFile, `${wrong}\n`);
    const store = join(work, 'layout');
    const refused = await publish(build, `oci:${store}`, [
      '--rootfs',
      image.image,
      '--verity-params',
      `@${paramsFile}`,
    ]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain('does not match its published dm-verity parameters');

    const weak = world.build({ release: '6.1.12-guest', config: `${PASSING_CONFIG}CONFIG_BLK_DEV_DM=m\n` });
    const unbootable = await publish(weak, `oci:${store}`, [
      '--rootfs',
      image.image,
      '--verity-params',
      image.kernelVerityParams!,
      '--json',
    ]);
    expect(unbootable.code).toBe(1);
    const error = (
      JSON.parse(unbootable.stdout) as { error: { code: string; details: { failures: string[] } } }
    ).error;
    expect(error.code).toBe('REQUIREMENTS_UNMET');
    expect(error.details.failures.join('\n')).toContain('CONFIG_DM_INIT');
    expect(error.details.failures).toContain(
      'CONFIG_VIRTIO_BLK must be y (built in: no initramfs loads it), is not set',
    );
    // A DAX image: the NVDIMM stack, each option named.
    for (const symbol of ['LIBNVDIMM', 'ACPI_NFIT', 'BLK_DEV_PMEM', 'ND_PFN', 'NVDIMM_PFN']) {
      expect(error.details.failures).toContain(
        `CONFIG_${symbol} must be y (built in: no initramfs loads it), is not set`,
      );
    }
    const pmemModule = world.build({
      release: '6.1.13-guest',
      config: GUEST_CONFIG.replace('CONFIG_BLK_DEV_PMEM=y', 'CONFIG_BLK_DEV_PMEM=m'),
    });
    const noPmem = await publish(pmemModule, `oci:${store}`, [
      '--rootfs',
      image.image,
      '--verity-params',
      image.kernelVerityParams!,
      '--json',
    ]);
    expect(noPmem.code).toBe(1);
    expect(
      (JSON.parse(noPmem.stdout) as { error: { details: { failures: string[] } } }).error.details.failures,
    ).toEqual(['CONFIG_BLK_DEV_PMEM must be y (built in: no initramfs loads it), is m']);

    const missing = await publish(build, `oci:${store}`, [
      '--rootfs',
      image.image,
      '--verity-params',
      `@${join(work, 'good.txt')}`,
    ]);
    expect(missing.code).toBe(2); // no such file: refused before anything is written
    const unpinned = await publish(build, `oci:${store}`, ['--rootfs', image.image]);
    expect(unpinned.code).toBe(2);
    expect(unpinned.stderr).toContain('has a dm-verity partition but no --verity-params were given');
    writeFileSync(join(work, 'good.txt'), `${image.kernelVerityParams}\n`);
    const published = await publish(build, `oci:${store}`, [
      '--rootfs',
      image.image,
      '--verity-params',
      `@${join(work, 'good.txt')}`,
    ]);
    expect(published.code).toBe(0);
  });
});
