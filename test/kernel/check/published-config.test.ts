/**
 * checkReference on the shapes kernel images come in (layouts: no server needed): kart's own per-file
 * layers, and the fallbacks when no layer says it carries kernel/config.gz: one layer holding every
 * file, zstd layers, Docker v2 media types, LinuxKit's kernel-dev.tar, a kernel image with IKCONFIG;
 * install's bounds on what a layer may hold; every platform of an index reported.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkReference, renderReferenceCheck } from '../../../src/kernel/check/index.ts';
import { DEFAULT_INSTALL_LIMITS } from '../../../src/kernel/install/install-limits.ts';
import { MediaType, type Descriptor } from '../../../src/oci/index.ts';
import { descriptorOf, fetchBytes, pushBytes } from '../../../src/oci/manifest-io.ts';
import { loadFlavor, type Flavor } from '../../../src/kernel/flavor/index.ts';
import { openLayout, type OciLayout } from '../../../src/oci/layout.ts';
import { rawTar, storeImage } from '../install/crafted-images.ts';
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

/** One layer as a layout holds it, gzipped or raw, with the file annotation kart writes (or none). */
async function storeRaw(
  tag: string,
  layers: { tar: Buffer; compression?: 'gzip' | 'none'; stored?: boolean }[],
): Promise<Descriptor> {
  const manifest = await storeImage(
    layout,
    layers.map((layer) => ({
      bytes: layer.tar,
      compression: layer.compression ?? 'gzip',
      ...(layer.stored ? { stored: true } : {}),
    })),
  );
  await layout.tag(manifest, tag);
  return manifest;
}

describe("checkReference reads layers within install's bounds", () => {
  it('refuses a kernel/image whose tar header claims more than the kernel limit, before reading a byte of it', async () => {
    // 600 MiB claimed (a bomb of zeros would be this header and a 611 KB gzip); the body is cut short.
    const tar = rawTar(
      [{ path: 'kernel/image', body: Buffer.alloc(1 << 20), claimedSize: 600 << 20 }],
      false,
    );
    const manifest = await storeRaw('bomb', [{ tar }]);
    const layer = (await layerDigests(manifest))[0];
    const error = await kartErrorOf(checkReference(`oci:${layout.root}:bomb`, { flavors: [flavor] }));
    expect({ code: error.code, exitCode: error.exitCode, message: error.message }).toEqual({
      code: 'LAYER_INVALID',
      exitCode: 1,
      message: `oci:${layout.root}:bomb@${manifest.digest} (linux/amd64): layer ${layer} holds a kernel/image of ${600 << 20} bytes, more than the ${DEFAULT_INSTALL_LIMITS.kernelBytes} bytes kart reads of it`,
    });
  });

  it('a kernel/config.gz whose gzip stream is damaged is LAYER_INVALID (exit 1), naming the reference and layer', async () => {
    const damaged = Buffer.concat([
      gzipSync(CONFIG_TEXT).subarray(0, 10),
      Buffer.from('not deflate at all, really'),
    ]);
    const manifest = await storeRaw('bad-config-gz', [
      { tar: rawTar([{ path: 'kernel/config.gz', body: damaged }]) },
    ]);
    const layer = (await layerDigests(manifest))[0];
    const error = await kartErrorOf(
      checkReference(`oci:${layout.root}:bad-config-gz`, { flavors: [flavor] }),
    );
    expect({ code: error.code, exitCode: error.exitCode }).toEqual({ code: 'LAYER_INVALID', exitCode: 1 });
    expect(error.message).toMatch(
      new RegExp(
        `^oci:${escape(layout.root)}:bad-config-gz@${manifest.digest} \\(linux/amd64\\): layer ${layer} holds a kernel/config\\.gz that does not decompress: `,
      ),
    );
  });

  it('a layer whose own gzip stream is damaged is LAYER_INVALID (exit 1)', async () => {
    const bytes = Buffer.concat([
      gzipSync(rawTar([{ path: 'kernel/config.gz', body: gzipSync(CONFIG_TEXT) }])).subarray(0, 10),
      Buffer.alloc(64, 0xff),
    ]);
    const manifest = await storeRaw('bad-layer-gz', [{ tar: bytes, stored: true }]);
    const error = await kartErrorOf(checkReference(`oci:${layout.root}:bad-layer-gz`, { flavors: [flavor] }));
    expect({ code: error.code, exitCode: error.exitCode }).toEqual({ code: 'LAYER_INVALID', exitCode: 1 });
    expect(error.message).toContain(
      `@${manifest.digest} (linux/amd64): layer ${(await layerDigests(manifest))[0]} does not decompress: `,
    );
  });

  it("a config.gz that decompresses past install's config limit (16 MiB) is LAYER_INVALID", async () => {
    const huge = gzipSync(Buffer.from('CONFIG_DEMO=y\n'.repeat(Math.ceil((17 << 20) / 14))));
    await storeRaw('huge-config', [{ tar: rawTar([{ path: 'kernel/config.gz', body: huge }]) }]);
    const error = await kartErrorOf(checkReference(`oci:${layout.root}:huge-config`, { flavors: [flavor] }));
    expect({ code: error.code, exitCode: error.exitCode }).toEqual({ code: 'LAYER_INVALID', exitCode: 1 });
    expect(error.message).toMatch(
      new RegExp(
        `holds a kernel/config\\.gz larger than ${DEFAULT_INSTALL_LIMITS.configBytes} bytes; no kernel config is that large$`,
      ),
    );
  });

  it('an IKCONFIG fallback that fails names the reference and layer, not the temporary copy', async () => {
    const payload = makeIkconfigVmlinux('6.1.99-cut', CONFIG_TEXT);
    const at = payload.indexOf('IKCFG_ED');
    payload.write('XXXXXXXX', at, 'latin1');
    const kernel = wrapBzImage('6.1.99-cut', compressPayload(payload, 'gzip'));
    const manifest = await storeRaw('ikconfig-cut', [
      { tar: rawTar([{ path: 'kernel/image', body: kernel }]) },
    ]);
    const layer = (await layerDigests(manifest))[0];
    const error = await kartErrorOf(checkReference(`oci:${layout.root}:ikconfig-cut`, { flavors: [flavor] }));
    expect({ code: error.code, exitCode: error.exitCode }).toEqual({ code: 'IMAGE_CORRUPT', exitCode: 1 });
    expect(error.message).toBe(
      `x86 bzImage oci:${layout.root}:ikconfig-cut@${manifest.digest} (linux/amd64) layer ${layer} kernel/image is corrupt: its embedded config starts (IKCFG_ST) but never ends (IKCFG_ED)`,
    );
    // not the spooled copy (kart-check-XXXXXX/kernel), removed by the time anyone reads this
    expect(error.message).not.toMatch(/kart-check-[^/]*\/kernel\b/);
  });
});

describe('checkReference: every platform of the index', () => {
  it('checks every platform that has a config, reports one without as not checked, and skips attestations', async () => {
    const withConfig = rawTar([{ path: 'kernel/config.gz', body: gzipSync(CONFIG_TEXT) }]);
    const amd64 = await storeImage(layout, [withConfig]);
    const s390x = await storeImage(layout, [withConfig]);
    const riscv = await storeImage(layout, [rawTar([{ path: 'kernel/notes.txt', body: 'no config\n' }])]);
    const attestation = await storeImage(layout, [rawTar([{ path: 'intoto.json', body: '{}' }])]);
    const index = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: MediaType.OciIndex,
        manifests: [
          { ...amd64, platform: { os: 'linux', architecture: 'amd64' } },
          { ...s390x, platform: { os: 'linux', architecture: 's390x' } },
          { ...riscv, platform: { os: 'linux', architecture: 'riscv64' } },
          {
            ...attestation,
            platform: { os: 'unknown', architecture: 'unknown' },
            annotations: { 'vnd.docker.reference.type': 'attestation-manifest' },
          },
        ],
      }),
    );
    const indexDesc = descriptorOf(index, MediaType.OciIndex);
    await pushBytes(layout, indexDesc, index);
    await layout.tag(indexDesc, 'many');
    const ref = `oci:${layout.root}:many`;
    const result = await checkReference(ref, { flavors: [flavor] });
    expect(result.platforms.map((platform) => [platform.platform, platform.ok])).toEqual([
      ['linux/amd64', true],
      ['linux/s390x', true],
    ]);
    expect(result.unchecked).toEqual([
      {
        platform: 'linux/riscv64',
        manifest: riscv.digest,
        code: 'CHECK_NO_CONFIG',
        message: `${ref}@${riscv.digest} (linux/riscv64) holds no kernel config: no kernel/config.gz layer, no LinuxKit kernel-dev.tar, and no kernel image with an embedded config`,
      },
    ]);
    expect(result.skipped).toEqual([
      { manifest: attestation.digest, reason: 'attestation manifest, not a platform' },
    ]);
    expect(result.ok).toBe(false);
    const text = renderReferenceCheck(result, 'text').split('\n');
    expect(text).toContain(`  FAIL not checked (CHECK_NO_CONFIG): ${result.unchecked[0]?.message}`);
    expect(text).toContain(
      `${ref}@${indexDesc.digest}: skipped ${attestation.digest} (attestation manifest, not a platform)`,
    );
    expect(text.at(-2)).toBe(`FAILED: ${ref}@${indexDesc.digest}: 1 of 3 platforms failed`);
  });
});

async function layerDigests(manifest: Descriptor): Promise<string[]> {
  const parsed = JSON.parse((await fetchBytes(layout, manifest)).toString('utf8')) as {
    layers: Descriptor[];
  };
  return parsed.layers.map((layer) => layer.digest);
}

function escape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
