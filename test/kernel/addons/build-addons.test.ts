import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { KartError } from '../../../src/errors.ts';
import { buildAddonsFromModules, type BuiltAddons } from '../../../src/kernel/addons/index.ts';
import { debianKernelPaths } from '../../support/debian-kernels.ts';
import { kartErrorOf } from '../../support/kart-error.ts';

const work = mkdtempSync(join(tmpdir(), 'kart-addons-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

const sha256 = (path: string) => createHash('sha256').update(readFileSync(path)).digest('hex');
const unsquashfs = (...args: string[]) =>
  execFileSync('unsquashfs', args, {
    encoding: 'utf8',
    env: { ...process.env, TZ: 'UTC' },
    maxBuffer: 64 << 20,
  });

/** Every path below `dir` (dir itself excluded), relative, the way `unsquashfs -l` names them under a prefix. */
function walk(dir: string, prefix: string): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    out.push(`${prefix}/${relative(dir, path)}`);
    if (entry.isDirectory()) out.push(...walk(path, `${prefix}/${entry.name}`));
  }
  return out;
}

function listing(image: string): string[] {
  return unsquashfs('-l', image)
    .split('\n')
    .filter((line) => line.startsWith('squashfs-root'));
}

let counter = 0;
function freshDir(): string {
  const dir = join(work, `case-${counter++}`);
  mkdirSync(dir);
  return dir;
}

/** A small lib/modules/<release> tree as `make modules_install` lays it out, with its build/source links. */
function makeModulesTree(root: string, release: string): string {
  const dir = join(root, 'lib/modules', release);
  mkdirSync(join(dir, 'kernel/fs/overlayfs'), { recursive: true });
  writeFileSync(join(dir, 'kernel/fs/overlayfs/overlay.ko'), 'ELF module bytes\n'.repeat(64));
  writeFileSync(join(dir, 'modules.order'), 'kernel/fs/overlayfs/overlay.ko\n');
  writeFileSync(join(dir, 'modules.dep'), 'kernel/fs/overlayfs/overlay.ko:\n');
  symlinkSync(`/usr/src/linux-headers-${release}`, join(dir, 'build'));
  symlinkSync('../../../../src/linux', join(dir, 'source'));
  symlinkSync('kernel/fs', join(dir, 'fs-link')); // stays inside: kept
  return dir;
}

async function failure(run: Promise<unknown>): Promise<KartError> {
  const error = await kartErrorOf(run);
  expect(error.exitCode).toBe(2);
  return error;
}

describe("buildAddonsFromModules on Debian's real modules", () => {
  const kernel = debianKernelPaths('cloud-amd64');
  const epoch = 1700000000;
  let fromRelease: BuiltAddons;
  let fromParent: BuiltAddons;

  // The real tree is ~90 MB: squash it twice (as the release dir and as its parent) and share the results.
  beforeAll(async () => {
    const out = freshDir();
    fromRelease = await buildAddonsFromModules(kernel.modulesDir, join(out, 'a.squashfs'), {
      sourceDateEpoch: epoch,
    });
    fromParent = await buildAddonsFromModules(dirname(kernel.modulesDir), join(out, 'b.squashfs'), {
      sourceDateEpoch: epoch,
    });
  }, 900_000);

  it('reports the release, the size written and the superblock', () => {
    expect(fromRelease.release).toBe(kernel.release);
    expect(fromRelease.excluded).toEqual([]);
    expect(fromRelease.size).toBe(statSync(fromRelease.path).size);
    expect(fromRelease.squashfs).toMatchObject({
      compression: 'gzip',
      mkfsTime: epoch,
      // every entry of the tree, plus the release dir (now modules/) and the new root
      inodeCount: walk(kernel.modulesDir, '').length + 2,
    });
  });

  it('puts the contents of lib/modules/<release> under modules/ at the root, every file intact', () => {
    expect(listing(fromRelease.path).sort()).toEqual(
      ['squashfs-root', 'squashfs-root/modules', ...walk(kernel.modulesDir, 'squashfs-root/modules')].sort(),
    );
    expect(listing(fromRelease.path)).toContain('squashfs-root/modules/kernel/fs/overlayfs/overlay.ko');
    const order = unsquashfs('-cat', fromRelease.path, 'modules/modules.order');
    expect(order).toBe(readFileSync(join(kernel.modulesDir, 'modules.order'), 'utf8'));
  });

  it('owns everything by root and stamps everything with SOURCE_DATE_EPOCH', () => {
    const lines = unsquashfs('-lln', fromRelease.path).trim().split('\n');
    expect(lines.length).toBe(fromRelease.squashfs.inodeCount);
    for (const line of lines) expect(line).toMatch(/^\S+ 0\/0 +\d+ 2023-11-14 22:13 squashfs-root/);
  });

  it('gives the same bytes from the release dir and from its parent', () => {
    expect(fromParent.release).toBe(kernel.release);
    expect(sha256(fromParent.path)).toBe(sha256(fromRelease.path));
  });
});

describe('buildAddonsFromModules on small trees', () => {
  it('drops build and source links that leave the tree, keeps links inside it', async () => {
    const dir = makeModulesTree(freshDir(), '6.12.8-kart');
    const out = join(freshDir(), 'addons.squashfs');
    const built = await buildAddonsFromModules(dir, out);
    expect({ release: built.release, excluded: built.excluded }).toEqual({
      release: '6.12.8-kart',
      excluded: ['build', 'source'],
    });
    expect(
      unsquashfs('-lln', out)
        .trim()
        .split('\n')
        .map((line) => line.replace(/^.* squashfs-root/, 'squashfs-root')),
    ).toEqual([
      'squashfs-root',
      'squashfs-root/modules',
      'squashfs-root/modules/fs-link -> kernel/fs',
      'squashfs-root/modules/kernel',
      'squashfs-root/modules/kernel/fs',
      'squashfs-root/modules/kernel/fs/overlayfs',
      'squashfs-root/modules/kernel/fs/overlayfs/overlay.ko',
      'squashfs-root/modules/modules.dep',
      'squashfs-root/modules/modules.order',
    ]);
    expect(readdirSync(dirname(out))).toEqual(['addons.squashfs']);
  });

  it('gives the same bytes whatever the files mtimes, and SOURCE_DATE_EPOCH changes them', async () => {
    const dir = makeModulesTree(freshDir(), '6.12.8-kart');
    const out = freshDir();
    await buildAddonsFromModules(dir, join(out, 'first'), { sourceDateEpoch: 1234567890 });
    utimesSync(join(dir, 'modules.order'), new Date('2030-01-01'), new Date('2030-01-01'));
    utimesSync(join(dir, 'kernel'), new Date('2001-01-01'), new Date('2001-01-01'));
    await buildAddonsFromModules(dir, join(out, 'second'), { sourceDateEpoch: 1234567890 });
    const other = await buildAddonsFromModules(dir, join(out, 'third'), { sourceDateEpoch: 1234567891 });
    expect(sha256(join(out, 'second'))).toBe(sha256(join(out, 'first')));
    expect(sha256(join(out, 'third'))).not.toBe(sha256(join(out, 'first')));
    expect(other.squashfs.mkfsTime).toBe(1234567891);
  });

  it('builds with SOURCE_DATE_EPOCH in the environment (mksquashfs refuses it beside -mkfs-time)', async () => {
    const dir = makeModulesTree(freshDir(), '6.12.8-kart');
    const saved = process.env.SOURCE_DATE_EPOCH;
    process.env.SOURCE_DATE_EPOCH = '5';
    try {
      const built = await buildAddonsFromModules(dir, join(freshDir(), 'a'), { sourceDateEpoch: 7 });
      expect(built.squashfs.mkfsTime).toBe(7);
    } finally {
      if (saved === undefined) delete process.env.SOURCE_DATE_EPOCH;
      else process.env.SOURCE_DATE_EPOCH = saved;
    }
  });

  it('replaces an existing output only when the build succeeds', async () => {
    const dir = makeModulesTree(freshDir(), '6.12.8-kart');
    const outDir = freshDir();
    const out = join(outDir, 'addons.squashfs');
    writeFileSync(out, 'previous addons');
    await failure(buildAddonsFromModules(dir, out, { mksquashfs: 'false' }));
    expect(readFileSync(out, 'utf8')).toBe('previous addons');
    expect(readdirSync(outDir)).toEqual(['addons.squashfs']);
    await buildAddonsFromModules(dir, out);
    expect(readFileSync(out).subarray(0, 4).toString('latin1')).toBe('hsqs');
    expect(readdirSync(outDir)).toEqual(['addons.squashfs']);
  });
});

describe('buildAddonsFromModules on bad input', () => {
  const HINT_TREE =
    'pass the lib/modules/<release> directory that `make modules_install` wrote, or its parent';

  it('names a missing modules directory', async () => {
    const missing = join(work, 'no-modules');
    const error = await failure(buildAddonsFromModules(missing, join(freshDir(), 'a')));
    expect([error.code, error.message, error.hint]).toEqual([
      'ADDONS_MODULES_NOT_FOUND',
      `modules directory ${missing} does not exist`,
      HINT_TREE,
    ]);
  });

  it('names a modules path it cannot read', async () => {
    const loop = join(freshDir(), 'loop');
    symlinkSync(loop, loop);
    const error = await failure(buildAddonsFromModules(loop, join(freshDir(), 'a')));
    expect([error.code, error.message]).toEqual([
      'ADDONS_MODULES_UNREADABLE',
      `cannot read modules directory ${loop}: ELOOP`,
    ]);
  });

  it('refuses a file where the modules directory should be', async () => {
    const file = join(freshDir(), 'modules.tar');
    writeFileSync(file, 'x');
    const error = await failure(buildAddonsFromModules(file, join(freshDir(), 'a')));
    expect([error.code, error.message]).toEqual([
      'ADDONS_MODULES_NOT_DIRECTORY',
      `modules directory ${file} is not a directory`,
    ]);
  });

  it('refuses a directory that holds no release tree', async () => {
    const empty = freshDir();
    mkdirSync(join(empty, 'docs'));
    const outDir = freshDir();
    const error = await failure(buildAddonsFromModules(empty, join(outDir, 'a')));
    expect([error.code, error.message]).toEqual([
      'ADDONS_MODULES_EMPTY',
      `modules directory ${empty} is neither a lib/modules/<release> tree (no modules.order, modules.builtin, modules.dep, kernel) nor a lib/modules directory holding one`,
    ]);
    expect(readdirSync(outDir)).toEqual([]);
  });

  it('refuses a lib/modules holding two releases, naming both', async () => {
    const root = freshDir();
    makeModulesTree(root, '6.12.8-kart');
    makeModulesTree(root, '6.1.0-56-cloud-amd64');
    const parent = join(root, 'lib/modules');
    const error = await failure(buildAddonsFromModules(parent, join(freshDir(), 'a')));
    expect([error.code, error.message, error.hint]).toEqual([
      'ADDONS_MODULES_AMBIGUOUS',
      `modules directory ${parent} holds 2 releases (6.1.0-56-cloud-amd64, 6.12.8-kart); kart packs one`,
      `pass the one to pack, e.g. ${parent}/6.1.0-56-cloud-amd64`,
    ]);
  });

  it('names the Debian package when mksquashfs is missing, and writes nothing', async () => {
    const dir = makeModulesTree(freshDir(), '6.12.8-kart');
    const outDir = freshDir();
    const error = await failure(
      buildAddonsFromModules(dir, join(outDir, 'addons.squashfs'), { mksquashfs: 'kart-no-such-mksquashfs' }),
    );
    expect([error.code, error.message, error.hint]).toEqual([
      'ADDONS_MKSQUASHFS_MISSING',
      'cannot run kart-no-such-mksquashfs: it is not installed (kart needs it to pack a modules tree into addons.squashfs)',
      'install the Debian package squashfs-tools: apt-get install -y squashfs-tools',
    ]);
    expect(readdirSync(outDir)).toEqual([]);
  });

  it('reports mksquashfs failing, and writes nothing', async () => {
    const dir = makeModulesTree(freshDir(), '6.12.8-kart');
    const outDir = freshDir();
    const error = await failure(
      buildAddonsFromModules(dir, join(outDir, 'addons.squashfs'), { mksquashfs: 'false' }),
    );
    expect([error.code, error.message]).toEqual([
      'ADDONS_MKSQUASHFS_FAILED',
      'false failed (exit status 1): no output',
    ]);
    expect(readdirSync(outDir)).toEqual([]);
  });

  it('refuses an output directory that does not exist', async () => {
    const dir = makeModulesTree(freshDir(), '6.12.8-kart');
    const out = join(work, 'no-such-dir', 'addons.squashfs');
    const error = await failure(buildAddonsFromModules(dir, out));
    expect([error.code, error.message]).toEqual([
      'ADDONS_OUTPUT_UNWRITABLE',
      `cannot write addons image ${out}: ENOENT in ${join(work, 'no-such-dir')}`,
    ]);
  });

  it('refuses a SOURCE_DATE_EPOCH squashfs cannot store', async () => {
    const dir = makeModulesTree(freshDir(), '6.12.8-kart');
    const outDir = freshDir();
    for (const sourceDateEpoch of [-1, 1.5, 2 ** 32]) {
      const error = await failure(buildAddonsFromModules(dir, join(outDir, 'a'), { sourceDateEpoch }));
      expect([error.code, error.message]).toEqual([
        'ADDONS_SOURCE_DATE_EPOCH_INVALID',
        `SOURCE_DATE_EPOCH ${sourceDateEpoch} is not a squashfs timestamp (whole seconds from 0 to 4294967295)`,
      ]);
    }
    expect(readdirSync(outDir)).toEqual([]);
  });
});
