/**
 * checkReference on the shapes kernel images come in (layouts: no server needed): kart's own per-file
 * layers, and the fallbacks when no layer says it carries kernel/config.gz: one layer holding every
 * file, zstd layers, Docker v2 media types, LinuxKit's kernel-dev.tar, a kernel image with IKCONFIG.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkReference } from '../../../src/kernel/check/index.ts';
import { loadFlavor, type Flavor } from '../../../src/kernel/flavor/index.ts';
import { openLayout, type OciLayout } from '../../../src/oci/layout.ts';
import { storeImage } from '../install/crafted-images.ts';
import { kartErrorOf } from '../../support/kart-error.ts';
import { compressPayload, makeIkconfigVmlinux, wrapBzImage } from '../../support/ikconfig-kernels.ts';
import { CONFIG_TEXT, sha256, storeKernelTag, tarBytes, type Shape } from '../pull/kernel-shapes.ts';

let work: string;
let layout: OciLayout;
let flavor: Flavor;

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'kart-check-shapes-'));
  layout = await openLayout(join(work, 'layout'), { create: true });
  const file = join(work, 'demo.ini');
  writeFileSync(file, 'description = demo\n[require]\nCONFIG_DEMO = y\nCONFIG_XEN = y\n');
  flavor = await loadFlavor(file);
});
afterAll(() => rmSync(work, { recursive: true, force: true }));

/** Stores a one-platform (amd64) bare manifest over tar layers of `files` and tags it. */
async function storeLayers(tag: string, layers: Record<string, Buffer | string>[]): Promise<void> {
  const tars = [];
  for (const files of layers) tars.push(await tarBytes(files));
  await layout.tag(await storeImage(layout, tars), tag);
}

describe('checkReference: where the config comes from', () => {
  const cases: [Shape, string, boolean][] = [
    ['one-layer', 'kernel/config.gz', true],
    ['zstd', 'kernel/config.gz', true],
    ['docker-v2', 'kernel/config.gz', true],
    ['linuxkit', 'kernel-dev.tar', false],
  ];
  for (const [shape, from, hasMetadata] of cases) {
    it(`${shape}: every platform, config from ${from}`, async () => {
      await storeKernelTag(layout, shape, { shape });
      const result = await checkReference(`oci:${layout.root}:${shape}`, { flavors: [flavor] });
      expect(result.ok).toBe(true);
      expect(
        result.platforms.map((platform) => ({
          platform: platform.platform,
          from: platform.configFrom,
          digest: platform.configDigest,
          metadata: platform.metadataConfigDigest,
          ok: platform.ok,
        })),
      ).toEqual(
        ['linux/amd64', 'linux/arm64'].map((platform) => ({
          platform,
          from,
          digest: sha256(CONFIG_TEXT),
          metadata: hasMetadata ? sha256(CONFIG_TEXT) : undefined,
          ok: true,
        })),
      );
    });
  }

  it('--arch picks one platform; a platform the index lacks is PLATFORM_NOT_FOUND (exit 1)', async () => {
    await storeKernelTag(layout, 'amd64-only', { arches: ['amd64'] });
    const one = await checkReference(`oci:${layout.root}:amd64-only`, { flavors: [flavor], arch: 'amd64' });
    expect(one.platforms.map((platform) => platform.platform)).toEqual(['linux/amd64']);
    const error = await kartErrorOf(
      checkReference(`oci:${layout.root}:amd64-only`, { flavors: [flavor], arch: 'arm64' }),
    );
    expect({ code: error.code, exitCode: error.exitCode, message: error.message }).toEqual({
      code: 'PLATFORM_NOT_FOUND',
      exitCode: 1,
      message: `oci:${layout.root}:amd64-only has no linux/arm64 kernel; it has linux/amd64`,
    });
  });

  it("falls back to the kernel image's IKCONFIG when no layer holds a config file", async () => {
    const config = '# embedded\nCONFIG_DEMO=y\n# CONFIG_XEN is not set\n';
    const kernel = wrapBzImage(
      '6.1.99-ik',
      compressPayload(makeIkconfigVmlinux('6.1.99-ik', config), 'gzip'),
    );
    await storeLayers('ikconfig', [{ 'kernel/image': kernel }, { 'kernel/notes.txt': 'no config here\n' }]);
    const result = await checkReference(`oci:${layout.root}:ikconfig`, { flavors: [flavor] });
    expect(result.ok).toBe(false);
    const [platform] = result.platforms;
    expect(platform).toMatchObject({
      platform: 'linux/amd64',
      configFrom: 'kernel/image (IKCONFIG)',
      configDigest: sha256(config),
    });
    expect(platform?.report.flavors[0]?.failures.map((failure) => failure.message)).toEqual([
      `CONFIG_XEN requires y but is not set (oci:${layout.root}:ikconfig@${platform?.manifest.digest} (linux/amd64) kernel/image (IKCONFIG):3; required by ${join(work, 'demo.ini')}:4)`,
    ]);
  });

  it('a later layer wins, and an image with no config anywhere is CHECK_NO_CONFIG (exit 2)', async () => {
    await storeLayers('overlaid', [
      { 'kernel/config.gz': gzipSync('# old\n# CONFIG_DEMO is not set\n') },
      { 'kernel/config.gz': gzipSync(CONFIG_TEXT) },
    ]);
    const result = await checkReference(`oci:${layout.root}:overlaid`, { flavors: [flavor] });
    expect(result.platforms[0]?.configDigest).toBe(sha256(CONFIG_TEXT));
    await storeLayers('empty', [{ 'kernel/notes.txt': 'nothing\n' }]);
    const error = await kartErrorOf(checkReference(`oci:${layout.root}:empty`, { flavors: [flavor] }));
    expect({ code: error.code, exitCode: error.exitCode }).toEqual({ code: 'CHECK_NO_CONFIG', exitCode: 2 });
    expect(error.message).toMatch(
      / holds no kernel config: no kernel\/config\.gz layer, no LinuxKit kernel-dev\.tar, and no kernel image with an embedded config$/,
    );
  });
});
