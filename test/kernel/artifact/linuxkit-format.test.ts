import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { packKernel, type PackKernelOptions } from '../../../src/kernel/artifact/index.ts';
import { checkReference } from '../../../src/kernel/check/index.ts';
import { loadFlavor } from '../../../src/kernel/flavor/index.ts';
import { installKernel } from '../../../src/kernel/install/index.ts';
import { openLayout } from '../../../src/oci/layout.ts';
import { kartErrorOf } from '../../support/kart-error.ts';
import { runKartSync } from '../../support/kart-cli.ts';
import { conformingManifests } from '../../support/layout-conformance.ts';
import { extractLikeMutate, linuxKitPicks, tarFileNames } from '../../support/linuxkit-extract.ts';
import { makeSyntheticBuild, readJson, RELEASE, type SyntheticBuild } from './pack-fixtures.ts';

let build: SyntheticBuild;
let modules: string;
let systemMap: string;
beforeAll(() => {
  build = makeSyntheticBuild();
  modules = join(build.dir, 'lib/modules', RELEASE);
  mkdirSync(join(modules, 'kernel/drivers'), { recursive: true });
  writeFileSync(join(modules, 'modules.dep'), 'kernel/drivers/demo.ko:\n');
  writeFileSync(join(modules, 'kernel/drivers/demo.ko'), 'not really a module\n');
  systemMap = join(build.dir, 'System.map');
  writeFileSync(systemMap, 'ffffffff81000000 T _text\n');
});

function layoutDir(): string {
  return join(mkdtempSync(join(tmpdir(), 'kart-linuxkit-')), 'layout');
}

async function pack(dir: string, extra: Partial<PackKernelOptions> = {}) {
  return packKernel(
    {
      kernel: build.bzImage,
      config: build.config,
      modules,
      systemMap,
      flavor: build.flavor,
      tags: ['6.1.99'],
      format: 'linuxkit',
      sourceDateEpoch: 1700000000,
      ...extra,
    },
    await openLayout(dir, { create: true }),
  );
}

describe('--format linuxkit', () => {
  it("puts kernel, kernel.tar, kernel-dev.tar and System.map at the root, as LinuxKit's kernelFilter takes them", async () => {
    const dir = layoutDir();
    const result = await pack(dir);
    expect(result.files.map((f) => f.path)).toEqual(['kernel', 'kernel.tar', 'kernel-dev.tar', 'System.map']);
    const manifest = readJson(join(dir, 'blobs/sha256', result.manifest.digest.slice(7))) as {
      layers: { annotations: Record<string, string> }[];
      annotations: Record<string, string>;
    };
    expect(manifest.layers.map((l) => l.annotations)).toEqual(
      result.files.map((f) => ({ 'dev.edera.kernel.file': f.path })),
    );
    expect(manifest.annotations['dev.edera.kernel.format']).toBe('linuxkit');
    // No kernel/metadata in this shape: the annotation is where the image says which config it carries.
    expect(manifest.annotations['dev.edera.kernel.config']).toBe(result.metadata.configDigest);
    const checked = await checkReference(`oci:${dir}:6.1.99`, { flavors: [await loadFlavor(build.flavor)] });
    expect(
      checked.platforms.map((p) => [p.configFrom, p.configDigest, p.claimFrom, p.metadataMatches]),
    ).toEqual([['kernel-dev.tar', result.metadata.configDigest, 'annotation', true]]);

    const flat = await extractLikeMutate(dir, result.manifest.digest);
    const picks = linuxKitPicks(flat);
    expect(picks.kernel?.type).toBe('file');
    expect(picks.kernel?.body).toEqual(readFileSync(build.bzImage));
    expect(picks.tar?.type).toBe('file');
    expect(await tarFileNames(picks.tar!.body)).toEqual([
      `lib/modules/${RELEASE}/kernel/drivers/demo.ko`,
      `lib/modules/${RELEASE}/modules.dep`,
    ]);
    const dev = flat.find((entry) => entry.name === 'kernel-dev.tar')!;
    expect(await tarFileNames(dev.body)).toEqual([`usr/src/linux-headers-${RELEASE}/.config`]);
    expect(flat.find((entry) => entry.name === 'System.map')?.body).toEqual(readFileSync(systemMap));
  });

  it("kart's own format is what LinuxKit cannot take: its filter finds the directory kernel/", async () => {
    const dir = layoutDir();
    const result = await pack(dir, { format: 'kart', systemMap: undefined });
    const picks = linuxKitPicks(await extractLikeMutate(dir, result.manifest.digest));
    expect(picks.kernel?.type).toBe('dir');
    expect(picks.tar).toBeUndefined();
  });

  it('passes oci-image-tool validate and the oci-spec 0.6.8 reader, one arch and two', async () => {
    const dir = layoutDir();
    await pack(dir);
    await pack(dir, { kernel: build.arm64Image, modules: undefined, systemMap: undefined, tags: ['arm'] });
    await pack(dir, { tags: ['multi'] });
    await pack(dir, {
      kernel: build.arm64Image,
      modules: undefined,
      systemMap: undefined,
      tags: ['multi'],
      compress: 'gzip',
    });
    expect(conformingManifests(dir)).toEqual([
      '6.1.99 amd64 4',
      'arm arm64 2',
      'multi amd64 4',
      'multi arm64 2',
    ]);
  });

  it('installs back with the config taken from kernel-dev.tar and the modules as kernel.tar', async () => {
    const dir = layoutDir();
    const result = await pack(dir);
    const dest = join(dir, '..', 'dest');
    const installed = await installKernel({
      source: await openLayout(dir),
      manifest: result.manifest,
      dest,
      arch: 'amd64',
    });
    expect(installed.format).toBe('linuxkit');
    expect(installed.files.map((f) => f.name)).toEqual(['kernel', 'config', 'kernel.tar']);
    expect(readFileSync(join(dest, 'kernel'))).toEqual(readFileSync(build.bzImage));
    expect(readFileSync(join(dest, 'config'))).toEqual(readFileSync(build.config));
    expect(await tarFileNames(readFileSync(join(dest, 'kernel.tar')))).toContain(
      `lib/modules/${RELEASE}/modules.dep`,
    );
  });

  it("publish --format linuxkit takes LinuxKit's tag scheme, V and V-<hash>, through a template", async () => {
    const dir = layoutDir();
    const run = runKartSync(
      [
        'publish',
        '--format',
        'linuxkit',
        '--kernel',
        build.bzImage,
        '--config',
        build.config,
        '--modules',
        modules,
        '--flavor',
        build.flavor,
        '--to',
        `oci:${dir}`,
        '--no-alias',
        '--immutable-tag-template',
        '{version}-{hash}',
        '--template-value',
        'hash=5f3c0e1a',
        '--json',
      ],
      { env: { ...process.env, SOURCE_DATE_EPOCH: '1700000000' } },
    );
    expect(run.code).toBe(0);
    const layout = await openLayout(dir);
    const tags: string[] = [];
    for await (const tag of layout.tags()) tags.push(tag);
    expect(tags.filter((tag) => !/-[0-9a-f]{12}$/.test(tag)).sort()).toEqual(['6.1.99', '6.1.99-5f3c0e1a']);
    const index = readJson(
      join(dir, 'blobs/sha256', (await layout.resolve('6.1.99-5f3c0e1a')).digest.slice(7)),
    ) as {
      manifests: { digest: string }[];
    };
    const picks = linuxKitPicks(await extractLikeMutate(dir, index.manifests[0]!.digest));
    expect(picks.kernel?.body).toEqual(readFileSync(build.bzImage));
  });

  it('refuses an addons squashfs, modules of another release, and a System.map in kart format', async () => {
    const addons = await kartErrorOf(pack(layoutDir(), { modules: undefined, addons: build.addons }));
    expect(addons.code).toBe('PACK_FORMAT_INPUT');
    expect(addons.message).toBe(
      `--format linuxkit ships the modules as kernel.tar, a tar of lib/modules, and cannot use the addons squashfs ${build.addons}`,
    );
    const other = join(build.dir, 'other/lib/modules/6.2.0');
    mkdirSync(other, { recursive: true });
    writeFileSync(join(other, 'modules.dep'), '');
    const mismatch = await kartErrorOf(pack(layoutDir(), { modules: other }));
    expect(mismatch.code).toBe('MODULES_RELEASE_MISMATCH');
    expect(mismatch.message).toBe(
      `the modules in ${other} are for 6.2.0, but the kernel image is ${RELEASE}`,
    );
    const map = await kartErrorOf(pack(layoutDir(), { format: 'kart' }));
    expect(map.code).toBe('PACK_FORMAT_INPUT');
  });
});
