import { randomBytes } from 'node:crypto';
import { chmod, mkdtemp, open, rename, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { KartError } from '../../errors.ts';
import { resolveModulesTree } from './modules-tree.ts';
import { runMksquashfs } from './run-mksquashfs.ts';
import { inspectSquashfs, type SquashfsInfo } from './squashfs-superblock.ts';

export interface BuildAddonsOptions {
  /** timestamp for the filesystem and every file in it (SOURCE_DATE_EPOCH); default 0 */
  sourceDateEpoch?: number;
  /** the mksquashfs to run; default `mksquashfs` on PATH */
  mksquashfs?: string;
}

export interface BuiltAddons {
  path: string;
  /** the release directory's name, `uname -r` of the kernel the modules belong to */
  release: string;
  /** bytes written */
  size: number;
  /** top-level symlinks left out because they point outside the tree */
  excluded: string[];
  squashfs: SquashfsInfo;
}

const MAX_EPOCH = 2 ** 32 - 1; // squashfs timestamps are unsigned 32-bit

/**
 * Packs a `lib/modules/<release>` tree (or its parent) into an addons squashfs with `modules/` at its
 * root, as Edera's linux-kernel-oci builds it (gzip, owned by root), plus every timestamp fixed and no
 * xattrs, so the same tree always gives the same bytes. The image is built beside `outFile` and renamed over it only
 * once complete.
 */
export async function buildAddonsFromModules(
  modulesPath: string,
  outFile: string,
  options: BuildAddonsOptions = {},
): Promise<BuiltAddons> {
  const epoch = options.sourceDateEpoch ?? 0;
  if (!Number.isInteger(epoch) || epoch < 0 || epoch > MAX_EPOCH) {
    throw new KartError(
      'ADDONS_SOURCE_DATE_EPOCH_INVALID',
      `SOURCE_DATE_EPOCH ${epoch} is not a squashfs timestamp (whole seconds from 0 to ${MAX_EPOCH})`,
      { hint: 'set SOURCE_DATE_EPOCH to a Unix time in seconds, e.g. $(git log -1 --format=%ct)' },
    );
  }
  const command = options.mksquashfs ?? 'mksquashfs';
  const tree = await resolveModulesTree(modulesPath);

  // Claim the temporary name first, so an unwritable output directory is reported as that.
  const temp = join(
    dirname(outFile),
    `.${basename(outFile)}.kart-${process.pid}-${randomBytes(4).toString('hex')}`,
  );
  try {
    await (await open(temp, 'wx')).close();
  } catch (error) {
    throw new KartError(
      'ADDONS_OUTPUT_UNWRITABLE',
      `cannot write addons image ${outFile}: ${(error as NodeJS.ErrnoException).code ?? String(error)} in ${dirname(outFile)}`,
      { hint: 'the output directory must exist and be writable', cause: error },
    );
  }
  // mksquashfs puts a source directory's *contents* at the root. To get modules/<contents>, squash the
  // release tree, then append an empty root with -root-becomes, which moves the first root to modules/.
  const emptyRoot = await mkdtemp(join(tmpdir(), 'kart-addons-root-'));
  try {
    await chmod(emptyRoot, 0o755);
    const fixed = [
      '-all-root',
      '-no-xattrs',
      '-mkfs-time',
      `${epoch}`,
      '-all-time',
      `${epoch}`,
      '-quiet',
      '-no-progress',
    ];
    // gzip, as linux-kernel-oci uses: every kernel with squashfs can mount it. Level 6, not mksquashfs's
    // default 9: on Debian's 90 MB modules tree 9 costs ten times the CPU (38 s vs 3.3 s) to save 1%.
    // Both are pinned here, so a future mksquashfs default cannot change kart's bytes.
    const compression = ['-comp', 'gzip', '-Xcompression-level', '6'];
    const exclude = tree.excluded.length > 0 ? ['-e', ...tree.excluded] : [];
    await runMksquashfs(command, [tree.dir, temp, '-noappend', ...compression, ...fixed, ...exclude]);
    await runMksquashfs(command, [emptyRoot, temp, '-root-becomes', 'modules', ...fixed]);
    const squashfs = await inspectSquashfs(temp);
    await rename(temp, outFile);
    return {
      path: outFile,
      release: tree.release,
      size: squashfs.fileSize,
      excluded: tree.excluded,
      squashfs,
    };
  } catch (error) {
    await rm(temp, { force: true });
    throw error;
  } finally {
    await rm(emptyRoot, { recursive: true, force: true });
  }
}
