import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { beforeAll, describe, expect, it } from 'vitest';
import { debianKernelPaths } from '../support/debian-kernels.ts';
import { runKartSync } from '../support/kart-cli.ts';
import { layoutTree } from '../kernel/artifact/pack-fixtures.ts';

/**
 * The real thing: Debian's cloud kernel, its real modules (through mksquashfs) and its config, packed by
 * the CLI, read by skopeo, unpacked again. The Debian config fails the zone flavor (it is no Xen zone
 * kernel), so the round trip packs with --no-check and the failure is its own test.
 */
const EPOCH = { SOURCE_DATE_EPOCH: '1700000000' };

const kart = (args: string[], env: Record<string, string> = {}) =>
  runKartSync(args, { env: { ...process.env, ...env } });

function sha256sum(path: string): string {
  return `sha256:${execFileSync('sha256sum', [path], { encoding: 'utf8' }).split(' ')[0]}`;
}

interface PackJson {
  manifest: { digest: string };
  indexes: { tag: string; digest: string; platforms: string[] }[];
  files: { path: string; size: number; layer: { digest: string } }[];
  inputs: { role: string; path: string; from: string }[];
}

const debian = debianKernelPaths('cloud-amd64');
let work: string;
let layout: string;
let packed: PackJson;

beforeAll(() => {
  work = mkdtempSync(join(tmpdir(), 'kart-cli-pack-'));
  layout = join(work, 'layout');
  const run = kart(
    ['pack', debian.root, '-o', `oci:${layout}:6.1`, '--flavor', 'zone', '--no-check', '--json'],
    EPOCH,
  );
  expect(run.stderr).toBe('');
  expect(run.code).toBe(0);
  packed = JSON.parse(run.stdout) as PackJson;
}, 600_000);

describe('kart pack (real Debian cloud kernel)', () => {
  it('says which file it took for what from the build directory', () => {
    expect(packed.inputs).toEqual([
      { role: 'kernel', path: debian.vmlinuz, from: 'build directory' },
      { role: 'config', path: debian.config, from: 'build directory' },
      { role: 'modules', path: join(debian.root, 'lib', 'modules'), from: 'build directory' },
    ]);
    expect(packed.files.map((f) => f.path)).toEqual([
      'kernel/image',
      'kernel/config.gz',
      'kernel/addons.squashfs',
      'kernel/metadata',
    ]);
  });

  it('is read by skopeo, and skopeo copy keeps every digest', () => {
    const inspected = JSON.parse(
      execFileSync('skopeo', ['inspect', `oci:${layout}:6.1`], { encoding: 'utf8' }),
    ) as {
      Digest: string;
      Architecture: string;
      Layers: string[];
    };
    expect(inspected.Digest).toBe(packed.indexes[0]?.digest);
    expect(inspected.Architecture).toBe('amd64');
    expect(inspected.Layers).toEqual(packed.files.map((f) => f.layer.digest));
    const other = join(work, 'other');
    execFileSync('skopeo', [
      'copy',
      '-q',
      '--all',
      '--preserve-digests',
      `oci:${layout}:6.1`,
      `oci:${other}:6.1`,
    ]);
    const index = JSON.parse(readFileSync(join(other, 'index.json'), 'utf8')) as {
      manifests: { digest: string }[];
    };
    expect(index.manifests[0]?.digest).toBe(packed.indexes[0]?.digest);
    expect(readdirSync(join(other, 'blobs/sha256')).sort()).toEqual(
      readdirSync(join(layout, 'blobs/sha256')).sort(),
    );
  });

  it('unpacks to files byte-identical to the inputs, with the right metadata', () => {
    const dest = join(work, 'dest');
    const run = kart(['unpack', `oci:${layout}:6.1`, '--dest', dest, '--arch', 'amd64']);
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    expect(readFileSync(join(dest, 'kernel'))).toEqual(readFileSync(debian.vmlinuz));
    expect(readFileSync(join(dest, 'config'))).toEqual(readFileSync(debian.config));
    expect(readFileSync(join(dest, 'metadata'), 'utf8')).toBe(
      [
        'KERNEL_ARCH=x86_64',
        `KERNEL_VERSION=${debian.release.replace(/-.*/, '')}`,
        `KERNEL_UNAME_R=${debian.release}`,
        'KERNEL_FLAVOR=zone',
        `KERNEL_CONFIG=${sha256sum(debian.config)}`,
        'KERNEL_TAGS=6.1',
        '',
      ].join('\n'),
    );
    const listing = execFileSync('unsquashfs', ['-l', join(dest, 'addons.squashfs')], {
      encoding: 'utf8',
      maxBuffer: 64 << 20,
    });
    expect(listing).toContain('squashfs-root/modules/modules.order');
    expect(listing).toContain('squashfs-root/modules/kernel/');
    // config.gz in the image is the same bytes, gzipped.
    const configLayer = readFileSync(join(layout, 'blobs/sha256', packed.files[1]!.layer.digest.slice(7)));
    const gz = configLayer.subarray(1024, 1024 + packed.files[1]!.size);
    expect(gunzipSync(gz)).toEqual(readFileSync(debian.config));
  });

  it('packs again to identical digests (same inputs, same SOURCE_DATE_EPOCH)', () => {
    const addons = join(work, 'dest', 'addons.squashfs');
    const again = join(work, 'again');
    const run = kart(
      [
        'pack',
        '--kernel',
        debian.vmlinuz,
        '--config',
        debian.config,
        '--addons',
        addons,
        '-o',
        `oci:${again}:6.1`,
        '--flavor',
        'zone',
        '--no-check',
        '--json',
      ],
      EPOCH,
    );
    expect(run.code).toBe(0);
    const second = JSON.parse(run.stdout) as PackJson;
    expect(second.manifest.digest).toBe(packed.manifest.digest);
    expect(second.indexes[0]?.digest).toBe(packed.indexes[0]?.digest);
  });

  it('exits 1 listing the failures when the config does not meet the flavor, layout unchanged', () => {
    const before = readFileSync(join(layout, 'index.json'));
    const tree = layoutTree(layout);
    const run = kart([
      'pack',
      '--kernel',
      debian.vmlinuz,
      '--config',
      debian.config,
      '-o',
      `oci:${layout}:6.1`,
      '--flavor',
      'zone',
    ]);
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(
      /^kart: error: .*config-.* does not meet flavor zone \(\d+ requirements? failed\):\n {2}.*CONFIG_/,
    );
    expect(run.stdout).toBe('');
    expect(readFileSync(join(layout, 'index.json'))).toEqual(before);
    expect(layoutTree(layout)).toEqual(tree);
  });

  it('exits 2 for a missing file, an unknown flavor, a wrong arch and an unwritable output, layout unchanged', () => {
    const before = readFileSync(join(layout, 'index.json'));
    const tree = layoutTree(layout);
    const base = [
      'pack',
      '--kernel',
      debian.vmlinuz,
      '--config',
      debian.config,
      '-o',
      `oci:${layout}:6.1`,
      '--no-check',
    ];
    const missing = kart([
      'pack',
      '--kernel',
      join(work, 'nope'),
      '--config',
      debian.config,
      '-o',
      `oci:${layout}:6.1`,
      '--flavor',
      'zone',
    ]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain(
      `kart: error: kernel ${join(work, 'nope')} does not exist or cannot be read`,
    );
    const flavor = kart([...base, '--flavor', 'no-such-flavor']);
    expect(flavor.code).toBe(2);
    expect(flavor.stderr).toContain('no-such-flavor');
    const arch = kart([...base, '--flavor', 'zone', '--arch', 'arm64']);
    expect(arch.code).toBe(2);
    expect(arch.stderr).toContain(
      `--arch arm64 was given, but ${debian.vmlinuz} is an x86_64 kernel (linux/amd64)`,
    );
    expect(readFileSync(join(layout, 'index.json'))).toEqual(before);
    expect(layoutTree(layout)).toEqual(tree);
    const file = join(work, 'a-file');
    writeFileSync(file, 'x');
    const unwritable = kart([
      'pack',
      '--kernel',
      debian.vmlinuz,
      '--config',
      debian.config,
      '-o',
      `oci:${file}/layout:6.1`,
      '--flavor',
      'zone',
      '--no-check',
    ]);
    expect(unwritable.code).toBe(2);
    expect(unwritable.stderr).toContain(file);
  });

  it('exits 2 for addons over the limit, a binary config with --no-check, a bad --version and a reserved annotation, layout unchanged', () => {
    const before = readFileSync(join(layout, 'index.json'));
    const tree = layoutTree(layout);
    const base = ['pack', '--kernel', debian.vmlinuz, '-o', `oci:${layout}:6.1`, '--flavor', 'zone'];
    const withConfig = [...base, '--config', debian.config, '--no-check'];

    const tiny = join(work, 'tiny.ini');
    writeFileSync(tiny, 'description = a 1 KiB addons limit\naddons_max_bytes = 1024\n');
    const tooLarge = kart([
      'pack',
      '--kernel',
      debian.vmlinuz,
      '--config',
      debian.config,
      '--addons',
      debian.addons,
      '-o',
      `oci:${layout}:6.1`,
      '--flavor',
      tiny,
    ]);
    expect(tooLarge.code).toBe(2);
    expect(tooLarge.stderr).toMatch(
      /^kart: error: addons\.squashfs is \d+ bytes, more than flavor tiny allows \(1024\)/,
    );

    // --no-check skips the flavor's requirements; the config is still read, and a shell is no config.
    const binary = kart([...base, '--config', '/bin/sh', '--no-check']);
    expect(binary.code).toBe(2);
    expect(binary.stderr).toContain(
      'kart: error: /bin/sh:1: holds binary data (a NUL byte); this is not a kernel .config',
    );

    const version = kart([...withConfig, '--version', 'not a version!']);
    expect(version.code).toBe(2);
    expect(version.stderr).toContain('kart: error: version "not a version!" is not a kernel release version');

    const reserved = kart([...withConfig, '--annotation', 'dev.edera.kernel.flavor=host']);
    expect(reserved.code).toBe(2);
    expect(reserved.stderr).toContain(
      "kart: error: annotation dev.edera.kernel.flavor cannot be set: dev.edera.kernel.* annotations are kart's own",
    );

    expect(readFileSync(join(layout, 'index.json'))).toEqual(before);
    expect(layoutTree(layout)).toEqual(tree);
  });

  it('creates no layout when a pack into a new directory is refused', () => {
    const fresh = join(work, 'never-created');
    const base = ['pack', '--kernel', debian.vmlinuz, '--config', debian.config, '-o', `oci:${fresh}:x`];
    for (const args of [
      [...base, '--flavor', 'nosuch'],
      [...base, '--flavor', 'zone'],
      [...base, '--flavor', 'zone', '--no-check', '--version', 'not a version!'],
    ]) {
      const run = kart(args);
      expect(run.code).not.toBe(0);
      expect(run.stderr).toMatch(/^kart: error: /);
      expect(existsSync(fresh)).toBe(false);
    }
  });

  it('puts --annotation, --source and --revision on the manifest beside kart own annotations', () => {
    const out = join(work, 'annotated');
    const run = kart(
      [
        'pack',
        '--kernel',
        debian.vmlinuz,
        '--config',
        debian.config,
        '--flavor',
        'zone',
        '--no-check',
        '-o',
        `oci:${out}:6.1`,
        '--annotation',
        'org.example.team=kernels',
        '--annotation',
        'org.opencontainers.image.vendor=Example=Inc',
        '--source',
        'https://example.com/kernels.git',
        '--revision',
        '0123abcd',
      ],
      EPOCH,
    );
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    const blob = (digest: string): unknown =>
      JSON.parse(readFileSync(join(out, 'blobs/sha256', digest.slice('sha256:'.length)), 'utf8'));
    const layoutIndex = JSON.parse(readFileSync(join(out, 'index.json'), 'utf8')) as {
      manifests: { digest: string }[];
    };
    const index = blob(layoutIndex.manifests[0]!.digest) as { manifests: { digest: string }[] };
    const manifest = blob(index.manifests[0]!.digest) as { annotations: Record<string, string> };
    const version = debian.release.replace(/-.*/, '');
    expect(manifest.annotations).toEqual({
      // the same digest as kernel/metadata's KERNEL_CONFIG: sha256 of the uncompressed .config
      'dev.edera.kernel.config': `sha256:${createHash('sha256').update(readFileSync(debian.config)).digest('hex')}`,
      'dev.edera.kernel.flavor': 'zone',
      'dev.edera.kernel.format': '1',
      'dev.edera.kernel.version': version,
      'org.example.team': 'kernels',
      'org.opencontainers.image.created': '2023-11-14T22:13:20Z',
      'org.opencontainers.image.revision': '0123abcd',
      'org.opencontainers.image.source': 'https://example.com/kernels.git',
      'org.opencontainers.image.vendor': 'Example=Inc',
      'org.opencontainers.image.version': version,
    });
  });
});
