/**
 * What kart's images are to the tools that consume them, through the CLI a user runs and a real
 * registry: a default `skopeo copy` round trip (layers recompressed, layer annotations dropped), the
 * directory krata reads its zone kernel from, and an OCI artifact that is not a kernel image.
 */
import { execFile } from 'node:child_process';
import {
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MediaType } from '../../src/oci/media-types.ts';
import { openLayout } from '../../src/oci/layout.ts';
import { descriptorOf, pushBytes } from '../../src/oci/manifest-io.ts';
import { makeSyntheticBuild, type SyntheticBuild } from '../kernel/artifact/pack-fixtures.ts';
import { runKart } from '../support/kart-cli.ts';
import { startRegistry, type TestRegistry } from '../support/registry.ts';

let registry: TestRegistry;
let work: string;
let build: SyntheticBuild;
const env = { ...process.env, SOURCE_DATE_EPOCH: '1700000000' };
const kart = (...args: string[]) => runKart(args, { env });
/** `kart pull -k REF --dest DEST` for linux/amd64 through the shared cache */
const pullAmd64 = (ref: string, dest: string, ...extra: string[]) =>
  kart('pull', '-k', ref, '--dest', dest, '--arch', 'amd64', '--cache', join(work, 'cache'), ...extra);

async function skopeo(...args: string[]): Promise<void> {
  await promisify(execFile)('skopeo', ['--insecure-policy', ...args]);
}

interface Inspected {
  platforms: {
    platform: string;
    files: { path: string; size: number }[];
    metadata?: { arch: string; flavor: string; configDigest: string; tags?: string[] };
  }[];
}

const FILES = ['kernel/image', 'kernel/config.gz', 'kernel/addons.squashfs', 'kernel/metadata'];

beforeAll(async () => {
  registry = await startRegistry();
  work = mkdtempSync(join(tmpdir(), 'kart-consumers-'));
  build = makeSyntheticBuild();
  for (const kernel of [build.bzImage, build.arm64Image]) {
    const inputs = ['--config', build.config, '--addons', build.addons, '--flavor', build.flavor];
    const packed = await kart('pack', '--kernel', kernel, ...inputs, '-o', `oci:${join(work, 'packed')}:6.1`);
    expect(packed.stderr).toBe('');
    expect(packed.code).toBe(0);
  }
});

afterAll(async () => {
  await registry?.stop();
});

describe('a default skopeo copy round trip', () => {
  it('still inspects with every file and its metadata, and installs byte-identical', async () => {
    const remote = `${registry.host}/kart/zone:6.1`;
    await skopeo(
      'copy',
      '--all',
      '--dest-tls-verify=false',
      `oci:${join(work, 'packed')}:6.1`,
      `docker://${remote}`,
    );
    // Docker v2 manifests cannot carry annotations at all: every file must come from the tar headers.
    const v2 = `${registry.host}/kart/zone-v2s2:6.1`;
    await skopeo(
      'copy',
      '--all',
      '--format',
      'v2s2',
      '--dest-tls-verify=false',
      `docker://${remote}`,
      `docker://${v2}`,
      '--src-tls-verify=false',
    );
    await skopeo(
      'copy',
      '--all',
      '--src-tls-verify=false',
      `docker://${remote}`,
      `oci:${join(work, 'back')}:6.1`,
    );

    const original = JSON.parse(
      (await kart('inspect', `oci:${join(work, 'packed')}:6.1`, '--json')).stdout,
    ) as Inspected;
    for (const ref of [remote, v2, `oci:${join(work, 'back')}:6.1`]) {
      const run = await kart('inspect', ref, '--json');
      expect(run.code).toBe(0);
      const inspected = JSON.parse(run.stdout) as Inspected;
      expect(inspected.platforms.map((p) => p.platform)).toEqual(['linux/amd64', 'linux/arm64']);
      for (const [i, platform] of inspected.platforms.entries()) {
        expect(platform.files.map((f) => f.path)).toEqual(FILES);
        expect(platform.metadata).toEqual(original.platforms[i]!.metadata);
      }
    }

    for (const ref of [remote, v2]) {
      const dest = join(work, `installed-${ref.includes('v2s2') ? 'v2' : 'oci'}`);
      const pulled = await pullAmd64(ref, dest);
      expect(pulled.code).toBe(0);
      expect(readFileSync(join(dest, 'kernel'))).toEqual(readFileSync(build.bzImage));
      expect(readFileSync(join(dest, 'config'))).toEqual(readFileSync(build.config));
      expect(readFileSync(join(dest, 'addons.squashfs'))).toEqual(readFileSync(build.addons));
    }
  });
});

describe('a LinuxKit-format image', () => {
  it('packs from the CLI, and pull -k installs it back: kernel, config from kernel-dev.tar, kernel.tar', async () => {
    const modules = join(work, 'lk/lib/modules/6.1.99-demo');
    mkdirSync(modules, { recursive: true });
    writeFileSync(join(modules, 'modules.dep'), '');
    writeFileSync(join(work, 'lk/System.map'), 'ffffffff81000000 T _text\n');
    const layout = `oci:${join(work, 'lk-layout')}:6.1.99`;
    const packed = await kart(
      'pack',
      '--format',
      'linuxkit',
      '--kernel',
      build.bzImage,
      '--config',
      build.config,
      '--modules',
      modules,
      '--system-map',
      join(work, 'lk/System.map'),
      '--flavor',
      build.flavor,
      '-o',
      layout,
      '--json',
    );
    expect(packed.code).toBe(0);
    expect((JSON.parse(packed.stdout) as { files: { path: string }[] }).files.map((f) => f.path)).toEqual([
      'kernel',
      'kernel.tar',
      'kernel-dev.tar',
      'System.map',
    ]);
    expect((await kart('copy', layout, `${registry.host}/linuxkit/kernel:6.1.99`)).code).toBe(0);
    const dest = join(work, 'lk-dest');
    const run = await pullAmd64(`${registry.host}/linuxkit/kernel:6.1.99`, dest);
    expect(run.code).toBe(0);
    expect(readdirSync(dest).sort()).toEqual(['config', 'kart.json', 'kernel', 'kernel.tar']);
    expect(readFileSync(join(dest, 'kernel'))).toEqual(readFileSync(build.bzImage));
    expect(readFileSync(join(dest, 'config'))).toEqual(readFileSync(build.config));
  });
});

describe("krata's zone directory", () => {
  // krata's daemon takes <store>/zone/<name> when is_file() (which follows symlinks), else its
  // packaged /usr/share/krata/zone/<name> (crates/daemon/src/lib.rs detect_zone_path).
  const krataReads = (zone: string, name: string): string =>
    statSync(join(zone, name), { throwIfNoEntry: false })?.isFile() === true
      ? join(zone, name)
      : `/usr/share/krata/zone/${name}`;

  it('kart pull -k REF --dest /var/lib/krata/zone gives the kernel and addons.squashfs krata reads', async () => {
    const zone = join(work, 'krata-fresh/var/lib/krata/zone');
    mkdirSync(join(zone, '..'), { recursive: true });
    await kart('copy', `oci:${join(work, 'packed')}:6.1`, `${registry.host}/kart/krata:6.1`);
    const run = await pullAmd64(`${registry.host}/kart/krata:6.1`, zone);
    expect(run.code).toBe(0);
    expect(krataReads(zone, 'kernel')).toBe(join(zone, 'kernel'));
    expect(krataReads(zone, 'addons.squashfs')).toBe(join(zone, 'addons.squashfs'));
    expect(krataReads(zone, 'initrd')).toBe('/usr/share/krata/zone/initrd');
    expect(readFileSync(join(zone, 'kernel'))).toEqual(readFileSync(build.bzImage));
    expect(readFileSync(join(zone, 'addons.squashfs'))).toEqual(readFileSync(build.addons));
  });

  it('a zone directory set up by hand is refused, and taken over with --adopt (kept and named)', async () => {
    const zone = join(work, 'krata-dev/var/lib/krata/zone');
    mkdirSync(zone, { recursive: true });
    writeFileSync(join(zone, 'kernel'), 'hand-copied kernel');
    writeFileSync(join(zone, 'initrd'), 'hand-copied initrd');
    const ref = `${registry.host}/kart/krata:6.1`;
    const refused = await pullAmd64(ref, zone);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain(
      `destination ${zone} is a directory kart did not make, and it is not empty`,
    );
    expect(readdirSync(zone).sort()).toEqual(['initrd', 'kernel']);

    const adopted = await pullAmd64(ref, zone, '--adopt');
    expect(adopted.code).toBe(0);
    expect(adopted.stdout.split('\n')[0]).toBe(`moved what was in ${zone} aside to ${zone}.pre-kart`);
    expect(readFileSync(join(`${zone}.pre-kart`, 'kernel'), 'utf8')).toBe('hand-copied kernel');
    expect(readFileSync(join(`${zone}.pre-kart`, 'initrd'), 'utf8')).toBe('hand-copied initrd');
    expect(lstatSync(zone).isSymbolicLink()).toBe(true);
    expect(krataReads(zone, 'kernel')).toBe(join(zone, 'kernel'));
    expect(readFileSync(join(zone, 'kernel'))).toEqual(readFileSync(build.bzImage));

    const again = await pullAmd64(ref, zone, '--adopt', '--json');
    expect(again.code).toBe(0);
    expect(JSON.parse(again.stdout)).not.toHaveProperty('adopted');
    expect(readdirSync(join(zone, '..')).sort()).toEqual(['.zone.kart', 'zone', 'zone.pre-kart']);
  });
});

describe('an OCI artifact that is not a kernel image', () => {
  it('pull -k refuses it by its config media type, exit 1 KERNEL_ARTIFACT_INVALID, before any layer', async () => {
    // What `oras push` writes: an empty config, a raw file as a layer named by its title.
    const layout = await openLayout(join(work, 'oras'), { create: true });
    const file = Buffer.from('kata-static-kernel.tar.zst bytes');
    const fileDesc = descriptorOf(file, 'application/vnd.oci.image.layer.v1.tar');
    await pushBytes(layout, fileDesc, file);
    const empty = Buffer.from('{}');
    const emptyDesc = descriptorOf(empty, 'application/vnd.oci.empty.v1+json');
    await pushBytes(layout, emptyDesc, empty);
    const manifest = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: MediaType.OciManifest,
        artifactType: 'application/vnd.unknown.artifact.v1',
        config: emptyDesc,
        layers: [{ ...fileDesc, annotations: { 'org.opencontainers.image.title': 'kernel' } }],
      }),
    );
    const manifestDesc = descriptorOf(manifest, MediaType.OciManifest);
    await pushBytes(layout, manifestDesc, manifest);
    await layout.tag(manifestDesc, 'cache');
    expect(
      (await kart('copy', `oci:${join(work, 'oras')}:cache`, `${registry.host}/kata/cached:1`)).code,
    ).toBe(0);

    const dest = join(work, 'oras-dest');
    const run = await pullAmd64(`${registry.host}/kata/cached:1`, dest, '--json');
    expect(run.code).toBe(1);
    const { error } = JSON.parse(run.stdout) as { error: { code: string; message: string } };
    expect(error.code).toBe('KERNEL_ARTIFACT_INVALID');
    expect(error.message).toBe(
      `manifest ${manifestDesc.digest} has a config of type application/vnd.oci.empty.v1+json, not an image config: it is an OCI artifact, not a kernel image`,
    );
    expect(statSync(dest, { throwIfNoEntry: false })).toBeUndefined();
    expect(readdirSync(join(work, 'cache/blobs/sha256'))).not.toContain(fileDesc.digest.slice(7));
  });
});
