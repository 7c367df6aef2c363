import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { packKernel, type PackKernelOptions } from '../../../src/kernel/artifact/index.ts';
import { openLayout } from '../../../src/oci/layout.ts';
import { MemoryStore, canIngest } from '../../../src/oci/index.ts';
import { layoutTree, makeSyntheticBuild, readJson, type SyntheticBuild } from './pack-fixtures.ts';
import { kartErrorOf } from '../../support/kart-error.ts';
import { conformingManifests } from '../../support/layout-conformance.ts';
import { readStrictImageConfig } from '../../support/strict-image-config.ts';

let build: SyntheticBuild;
beforeAll(() => {
  build = makeSyntheticBuild();
});

function layoutDir(): string {
  return join(mkdtempSync(join(tmpdir(), 'kart-pack-out-')), 'layout');
}

function options(extra: Partial<PackKernelOptions> = {}): PackKernelOptions {
  return {
    kernel: build.bzImage,
    config: build.config,
    addons: build.addons,
    flavor: build.flavor,
    tags: ['6.1'],
    sourceDateEpoch: 1700000000,
    ...extra,
  };
}

async function pack(dir: string, extra: Partial<PackKernelOptions> = {}) {
  return packKernel(options(extra), await openLayout(dir, { create: true }));
}

const failure = (promise: Promise<unknown>) => kartErrorOf(promise);

describe('packKernel', () => {
  it('writes the format-v1 artifact: four layers in order, file annotations, config blob, annotations, index', async () => {
    const dir = layoutDir();
    const result = await pack(dir);
    expect(result.files.map((f) => f.path)).toEqual([
      'kernel/image',
      'kernel/config.gz',
      'kernel/addons.squashfs',
      'kernel/metadata',
    ]);
    const manifest = readJson(join(dir, 'blobs/sha256', result.manifest.digest.slice(7))) as {
      layers: { mediaType: string; annotations: Record<string, string> }[];
      annotations: Record<string, string>;
      config: { digest: string };
    };
    // kart's own annotation names each layer's file; no ORAS title (ORAS would save the tar under it).
    expect(manifest.layers.map((l) => l.annotations)).toEqual(
      result.files.map((f) => ({ 'dev.edera.kernel.file': f.path })),
    );
    expect(manifest.layers.every((l) => l.mediaType === 'application/vnd.oci.image.layer.v1.tar')).toBe(true);
    expect(manifest.annotations).toEqual({
      'dev.edera.kernel.config': result.metadata.configDigest,
      'dev.edera.kernel.flavor': 'demo',
      'dev.edera.kernel.format': '1',
      'dev.edera.kernel.version': '6.1.99',
      'org.opencontainers.image.created': '2023-11-14T22:13:20Z',
      'org.opencontainers.image.version': '6.1.99',
    });
    const config = readJson(join(dir, 'blobs/sha256', manifest.config.digest.slice(7))) as Record<
      string,
      unknown
    >;
    expect(config.architecture).toBe('amd64');
    expect(config.os).toBe('linux');
    expect(config.history).toEqual(
      result.files.map((f) => ({ created: '2023-11-14T22:13:20Z', created_by: `kart pack: ${f.path}` })),
    );
    expect((config.rootfs as { diff_ids: string[] }).diff_ids).toEqual(
      manifest.layers.map((_, i) => result.files[i]?.layer.digest),
    );
    const index = readJson(join(dir, 'index.json')) as {
      manifests: { digest: string; annotations: Record<string, string> }[];
    };
    expect(index.manifests).toHaveLength(1);
    expect(index.manifests[0]?.annotations['org.opencontainers.image.ref.name']).toBe('6.1');
    const tagged = readJson(join(dir, 'blobs/sha256', index.manifests[0]!.digest.slice(7))) as {
      mediaType: string;
      manifests: { digest: string; platform: unknown }[];
    };
    expect(tagged.mediaType).toBe('application/vnd.oci.image.index.v1+json');
    expect(tagged.manifests).toEqual([
      expect.objectContaining({
        digest: result.manifest.digest,
        platform: { architecture: 'amd64', os: 'linux' },
      }),
    ]);
  });

  it('writes history at the fixed epoch without SOURCE_DATE_EPOCH, and no created', async () => {
    const dir = layoutDir();
    const result = await pack(dir, { sourceDateEpoch: undefined, addons: undefined });
    const config = readStrictImageConfig(
      readFileSync(join(dir, 'blobs/sha256', result.config.digest.slice(7))),
    );
    expect(config.created).toBeUndefined();
    expect(config.history).toEqual([
      { created: '1970-01-01T00:00:00Z', created_by: 'kart pack: kernel/image' },
      { created: '1970-01-01T00:00:00Z', created_by: 'kart pack: kernel/config.gz' },
      { created: '1970-01-01T00:00:00Z', created_by: 'kart pack: kernel/metadata' },
    ]);
    expect((await pack(layoutDir(), { sourceDateEpoch: undefined, addons: undefined })).config).toEqual(
      result.config,
    );
  });

  it('passes oci-image-tool validate and the oci-spec 0.6.8 reader: with and without addons, gzip, multi-arch', async () => {
    const dir = layoutDir();
    await pack(dir, { tags: ['plain'], addons: undefined });
    await pack(dir, { tags: ['addons'] });
    await pack(dir, { tags: ['gzip'], compress: 'gzip' });
    await pack(dir, { tags: ['multi'] });
    await pack(dir, { tags: ['multi'], kernel: build.arm64Image });
    expect(conformingManifests(dir)).toEqual([
      'plain amd64 3',
      'addons amd64 4',
      'gzip amd64 4',
      'multi amd64 4',
      'multi arm64 4',
    ]);
    // The reader refuses what kart wrote before (no history), as krata's serde does.
    expect(() =>
      readStrictImageConfig('{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}'),
    ).toThrow('oci-spec 0.6.8 would refuse this config: history');
  });

  it('is reproducible: same inputs and SOURCE_DATE_EPOCH give the same manifest and index digests', async () => {
    const a = await pack(layoutDir(), { compress: 'gzip' });
    const b = await pack(layoutDir(), { compress: 'gzip' });
    expect(b.manifest.digest).toBe(a.manifest.digest);
    expect(b.indexes[0]?.index.digest).toBe(a.indexes[0]?.index.digest);
    expect(a.files[0]?.layer.mediaType).toBe('application/vnd.oci.image.layer.v1.tar+gzip');
    const c = await pack(layoutDir(), { compress: 'gzip', sourceDateEpoch: 1700000001 });
    expect(c.manifest.digest).not.toBe(a.manifest.digest);
  });

  it('gives the same digests whether the store ingests layers in one pass (a layout) or not (hash, then push)', async () => {
    const memory = new MemoryStore();
    expect(canIngest(memory)).toBe(false);
    const twoPass = await packKernel(options(), memory);
    const onePass = await pack(layoutDir());
    expect(onePass.manifest).toEqual(twoPass.manifest);
    expect(onePass.files).toEqual(twoPass.files);
    expect(onePass.indexes.map((i) => i.index.digest)).toEqual(twoPass.indexes.map((i) => i.index.digest));
  });

  it('keeps both platforms when amd64 and arm64 are packed into one tag at the same time', async () => {
    const dir = layoutDir();
    await openLayout(dir, { create: true });
    // Both packs read the (empty) tag before either writes; only a merge under the layout's lock keeps both.
    const [amd, arm] = await Promise.all([pack(dir), pack(dir, { kernel: build.arm64Image })]);
    const layout = await openLayout(dir);
    const index = readJson(join(dir, 'blobs/sha256', (await layout.resolve('6.1')).digest.slice(7))) as {
      manifests: { digest: string; platform: { architecture: string } }[];
    };
    expect(index.manifests.map((m) => [m.platform.architecture, m.digest]).sort()).toEqual([
      ['amd64', amd.manifest.digest],
      ['arm64', arm.manifest.digest],
    ]);
  });

  it('adds arm64 to the amd64 index under one tag, and replaces a platform packed again', async () => {
    const dir = layoutDir();
    const amd = await pack(dir, { tags: ['6.1', 'stable'] });
    const arm = await pack(dir, { kernel: build.arm64Image, tags: ['6.1'] });
    expect(arm.indexes[0]?.platforms).toEqual(['linux/amd64', 'linux/arm64']);
    const again = await pack(dir, { tags: ['6.1'], version: '6.1.100' });
    expect(again.indexes[0]?.platforms).toEqual(['linux/amd64', 'linux/arm64']);
    const layout = await openLayout(dir);
    const index = JSON.parse(readFileSync(layout.blobPath((await layout.resolve('6.1')).digest), 'utf8')) as {
      manifests: { digest: string }[];
    };
    expect(index.manifests.map((m) => m.digest)).toEqual([again.manifest.digest, arm.manifest.digest]);
    // The other tag still names the first pack only.
    expect((await layout.resolve('stable')).digest).toBe(amd.indexes[1]?.index.digest);
    expect(amd.metadata.tags).toEqual(['6.1', 'stable']);
  });

  it("adds user annotations to the manifest, and lets them replace kart's org.opencontainers.image.* values", async () => {
    const dir = layoutDir();
    const result = await pack(dir, {
      annotations: { 'org.example.team': 'kernels', 'org.opencontainers.image.version': '6.1.99-ours' },
      sourceUrl: 'https://example.com/k.git',
      revision: 'abc123',
    });
    const manifest = readJson(join(dir, 'blobs/sha256', result.manifest.digest.slice(7))) as {
      annotations: Record<string, string>;
    };
    expect(manifest.annotations).toEqual({
      'dev.edera.kernel.config': result.metadata.configDigest,
      'dev.edera.kernel.flavor': 'demo',
      'dev.edera.kernel.format': '1',
      'dev.edera.kernel.version': '6.1.99',
      'org.example.team': 'kernels',
      'org.opencontainers.image.created': '2023-11-14T22:13:20Z',
      'org.opencontainers.image.revision': 'abc123',
      'org.opencontainers.image.source': 'https://example.com/k.git',
      'org.opencontainers.image.version': '6.1.99-ours',
    });
    expect(result.annotations).toEqual(manifest.annotations);
  });

  describe('refuses bad input before writing anything', () => {
    const cases: [string, () => Partial<PackKernelOptions>, string, number, RegExp][] = [
      [
        'a missing kernel',
        () => ({ kernel: join(build.dir, 'nope') }),
        'BUILD_INPUT_NOT_FOUND',
        2,
        /kernel .*nope does not exist/,
      ],
      [
        'a wrong --arch',
        () => ({ arch: 'arm64' }),
        'ARCH_MISMATCH',
        2,
        /--arch arm64 was given, but .*bzImage is an x86_64 kernel/,
      ],
      [
        'a config failing the flavor',
        () => ({ config: build.failingConfig }),
        'REQUIREMENTS_UNMET',
        1,
        /does not meet flavor demo \(1 requirement failed\):\n {2}.*CONFIG_DEMO/,
      ],
      [
        'addons over the limit',
        () => ({ flavor: build.tinyFlavor }),
        'ADDONS_TOO_LARGE',
        2,
        /addons.squashfs is \d+ bytes, more than flavor tiny allows \(100\)/,
      ],
      [
        'addons that are not squashfs',
        () => ({ addons: build.notSquashfs }),
        'ADDONS_NOT_SQUASHFS',
        2,
        /not\.squashfs/,
      ],
      ['an unknown flavor', () => ({ flavor: 'no-such-flavor' }), 'FLAVOR_NOT_FOUND', 2, /no-such-flavor/],
      [
        'a binary as the config, with noCheck (it skips the requirements, not reading the config)',
        () => ({ config: build.bzImage, noCheck: true }),
        'CONFIG_INVALID',
        2,
        /bzImage.*this is not a kernel \.config/,
      ],
      [
        'a config that sets no symbol, with noCheck',
        () => ({ config: build.emptyConfig, noCheck: true }),
        'CONFIG_EMPTY',
        2,
        /empty\.config: no CONFIG_ symbol in it/,
      ],
      [
        'a version that is not a kernel version',
        () => ({ version: 'not a version!' }),
        'VERSION_INVALID',
        2,
        /version "not a version!" is not a kernel release version/,
      ],
      [
        'a version with only MAJOR.MINOR',
        () => ({ version: '6.1' }),
        'VERSION_INVALID',
        2,
        /version "6\.1" is not a kernel release version/,
      ],
      [
        "an annotation in kart's dev.edera.kernel.* namespace",
        () => ({ annotations: { 'dev.edera.kernel.version': '9.9.9', 'org.example.ok': 'yes' } }),
        'ANNOTATION_RESERVED',
        2,
        /annotation dev\.edera\.kernel\.version cannot be set: dev\.edera\.kernel\.\* annotations are kart's own/,
      ],
    ];
    for (const [name, extra, code, exitCode, message] of cases) {
      it(name, async () => {
        const dir = layoutDir();
        await pack(dir, { tags: ['6.1'] });
        const before = { index: readFileSync(join(dir, 'index.json')), tree: layoutTree(dir) };
        const error = await failure(pack(dir, { tags: ['6.1'], ...extra() }));
        expect(error.code).toBe(code);
        expect(error.exitCode).toBe(exitCode);
        expect(error.message).toMatch(message);
        expect(readFileSync(join(dir, 'index.json'))).toEqual(before.index);
        expect(layoutTree(dir)).toEqual(before.tree);
      });

      it(`${name}: a target given as a function is never opened`, async () => {
        const dir = layoutDir();
        let opened = false;
        const error = await failure(
          packKernel(options({ tags: ['6.1'], ...extra() }), () => {
            opened = true;
            return openLayout(dir, { create: true });
          }),
        );
        expect(error.code).toBe(code);
        expect(opened).toBe(false);
        expect(existsSync(dir)).toBe(false);
      });
    }

    it('an unwritable output (blobs/sha256 is not a directory)', async () => {
      const dir = layoutDir();
      await pack(dir);
      const before = readFileSync(join(dir, 'index.json'));
      // Permissions do not stop root, a file where a directory must be stops everyone.
      rmSync(join(dir, 'blobs', 'sha256'), { recursive: true });
      writeFileSync(join(dir, 'blobs', 'sha256'), 'not a directory');
      const tree = layoutTree(dir);
      const error = await failure(pack(dir, { version: '6.1.7' }));
      expect(error.code).toBe('LAYOUT_UNWRITABLE');
      expect(error.exitCode).toBe(2);
      expect(error.message).toContain(join(dir, 'blobs'));
      expect(readFileSync(join(dir, 'index.json'))).toEqual(before);
      expect(layoutTree(dir)).toEqual(tree);
    });
  });

  it('lists each layer with GNU tar as kernel/ then the file, owner 0/0', async () => {
    const dir = layoutDir();
    const result = await pack(dir);
    for (const file of result.files) {
      const listing = execFileSync('tar', ['-tvf', join(dir, 'blobs/sha256', file.layer.digest.slice(7))], {
        encoding: 'utf8',
      });
      const lines = listing.trim().split('\n');
      expect(lines).toHaveLength(2);
      expect(lines[0]).toMatch(/^drwxr-xr-x 0\/0 +0 2023-11-14 \d\d:13 kernel\/$/);
      expect(lines[1]).toMatch(
        new RegExp(`^-rw-r--r-- 0/0 +${file.size} 2023-11-14 \\d\\d:13 ${file.path}$`),
      );
    }
  });
});
