/**
 * A compressed guest bundle whose image is large and mostly empty: it compresses far below the 1/64
 * a layer may otherwise expand from, so pull -k bounds the image's layer by the size the manifest
 * declares (dev.edera.kernel.rootfs.size), capped by rootfsBytes. The limits are shrunk here (a
 * 1 MiB floor, ×4) so a 32 MiB image stands in for Kata's 768 MiB ones under the default ×64.
 */
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildRootfsImage, prepareGuestBundle, type GuestBundle } from '../../src/guest/index.ts';
import { packKernel } from '../../src/kernel/artifact/index.ts';
import { installKernel } from '../../src/kernel/install/index.ts';
import type { InstallLimits } from '../../src/kernel/install/install-limits.ts';
import { openLayout, type OciLayout } from '../../src/oci/layout.ts';
import { makeFixtureWorld, PASSING_CONFIG } from '../kernel/publish/publish-fixture.ts';
import { kartErrorOf } from '../support/kart-error.ts';

const MIB = 1 << 20;
const LIMITS: Partial<InstallLimits> = { layerFloorBytes: 1 * MIB, layerExpansion: 4 };
const world = makeFixtureWorld();
const work = mkdtempSync(join(tmpdir(), 'kart-bundle-limits-'));
let layout: OciLayout;
let bundle: GuestBundle;
let build: string;
afterAll(() => {
  rmSync(work, { recursive: true, force: true });
  rmSync(world.root, { recursive: true, force: true });
});
beforeAll(async () => {
  const tree = join(work, 'tree');
  mkdirSync(join(tree, 'sbin'), { recursive: true });
  writeFileSync(join(tree, 'sbin/init'), '#!/bin/sh\n', { mode: 0o755 });
  chmodSync(tree, 0o755);
  const image = await buildRootfsImage({
    sourceDir: tree,
    output: join(work, 'rootfs.img'),
    dax: true,
    verity: true,
    alignMiB: 32,
    sourceDateEpoch: 1700000000,
  });
  bundle = await prepareGuestBundle({ rootfs: image.image, verityParams: image.kernelVerityParams! }, work);
  build = world.build({ release: '6.1.20-guest', config: PASSING_CONFIG });
  layout = await openLayout(join(work, 'layout'), { create: true });
});

async function pack(tag: string, part: GuestBundle) {
  return packKernel(
    { buildDir: build, flavor: world.flavor, tags: [tag], bundle: part, compress: 'gzip' },
    layout,
  );
}

describe('a compressed bundle with a mostly empty image', () => {
  it('installs: the layer may expand to the declared image size, not only ×4 its compressed size', async () => {
    expect(bundle.size).toBe(32 * MIB);
    expect(bundle.annotations['dev.edera.kernel.rootfs.size']).toBe(String(32 * MIB));
    const packed = await pack('big', bundle);
    const layer = packed.files.find((file) => file.path === 'kernel/rootfs.img')!.layer;
    expect(layer.size * 4).toBeLessThan(32 * MIB);
    const dest = join(work, 'dest');
    const result = await installKernel({
      source: layout,
      manifest: packed.manifest,
      dest,
      arch: 'amd64',
      limits: LIMITS,
    });
    expect(result.files.map((file) => file.name)).toEqual(['kernel', 'config', 'metadata', 'rootfs.img']);
    expect(readFileSync(join(dest, 'rootfs.img')).equals(readFileSync(bundle.file))).toBe(true);
  });

  it('refuses an image larger than declared, or than rootfsBytes; nothing installed', async () => {
    const understated = await pack('understated', {
      ...bundle,
      annotations: { ...bundle.annotations, 'dev.edera.kernel.rootfs.size': String(16 * MIB) },
    });
    const dest = join(work, 'refused');
    const small = await kartErrorOf(
      installKernel({ source: layout, manifest: understated.manifest, dest, arch: 'amd64', limits: LIMITS }),
    );
    expect(small.code).toBe('LAYER_ENTRY_REFUSED');
    expect(small.message).toContain(`kernel/rootfs.img`);
    const capped = await kartErrorOf(
      installKernel({
        source: layout,
        manifest: (await pack('capped', bundle)).manifest,
        dest,
        arch: 'amd64',
        limits: { ...LIMITS, rootfsBytes: 8 * MIB },
      }),
    );
    expect(capped.code).toBe('LAYER_ENTRY_REFUSED');
    expect(capped.message).toContain(String(8 * MIB));
    expect(() => readFileSync(join(dest, 'rootfs.img'))).toThrow(/ENOENT/);
  });
});
