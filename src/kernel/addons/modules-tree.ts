import { lstat, readdir, readlink, realpath, stat } from 'node:fs/promises';
import { basename, isAbsolute, join, relative, resolve } from 'node:path';
import { KartError } from '../../errors.ts';
import { modulesTreeError } from './addons-errors.ts';

/** A `lib/modules/<release>` directory, ready to be squashed. */
export interface ModulesTree {
  release: string;
  /** the release directory itself */
  dir: string;
  /** top-level entries left out because they are symlinks pointing outside the tree (build, source) */
  excluded: string[];
}

// What `make modules_install` always writes into lib/modules/<release>; any one marks a release tree.
const RELEASE_TREE_MARKS = ['modules.order', 'modules.builtin', 'modules.dep', 'kernel'];

async function isReleaseTree(dir: string): Promise<boolean> {
  const names = new Set(await readdir(dir));
  return RELEASE_TREE_MARKS.some((mark) => names.has(mark));
}

/**
 * Accepts a `lib/modules/<release>` tree or its parent `lib/modules` holding exactly one release,
 * and finds the top-level symlinks that leave the tree (`build` and `source` point at the kernel's
 * build directory): a squashfs must not carry links into the builder's filesystem.
 */
export async function resolveModulesTree(path: string): Promise<ModulesTree> {
  let info;
  try {
    info = await stat(path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw modulesUnreadable(path, error);
    throw modulesTreeError(
      'ADDONS_MODULES_NOT_FOUND',
      `modules directory ${path} does not exist`,
      'pass the lib/modules/<release> directory that `make modules_install` wrote, or its parent',
    );
  }
  if (!info.isDirectory()) {
    throw modulesTreeError(
      'ADDONS_MODULES_NOT_DIRECTORY',
      `modules directory ${path} is not a directory`,
      'pass the lib/modules/<release> directory that `make modules_install` wrote, or its parent',
    );
  }
  try {
    const dir = (await isReleaseTree(path)) ? path : await onlyReleaseBelow(path);
    return { release: basename(await realpath(dir)), dir, excluded: await linksLeavingTree(dir) };
  } catch (error) {
    if (error instanceof KartError) throw error;
    throw modulesUnreadable(path, error);
  }
}

function modulesUnreadable(path: string, error: unknown): KartError {
  return modulesTreeError(
    'ADDONS_MODULES_UNREADABLE',
    `cannot read modules directory ${path}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`,
    'the modules tree must be readable by the user running kart',
  );
}

async function onlyReleaseBelow(parent: string): Promise<string> {
  const candidates: string[] = [];
  for (const entry of (await readdir(parent, { withFileTypes: true })).sort((a, b) =>
    a.name < b.name ? -1 : 1,
  )) {
    const child = join(parent, entry.name);
    if (
      (await stat(child).then(
        (s) => s.isDirectory(),
        () => false,
      )) &&
      (await isReleaseTree(child))
    ) {
      candidates.push(entry.name);
    }
  }
  if (candidates.length === 1) return join(parent, candidates[0] as string);
  if (candidates.length === 0) {
    throw modulesTreeError(
      'ADDONS_MODULES_EMPTY',
      `modules directory ${parent} is neither a lib/modules/<release> tree (no ${RELEASE_TREE_MARKS.join(', ')}) nor a lib/modules directory holding one`,
      'pass the lib/modules/<release> directory that `make modules_install` wrote, or its parent',
    );
  }
  throw modulesTreeError(
    'ADDONS_MODULES_AMBIGUOUS',
    `modules directory ${parent} holds ${candidates.length} releases (${candidates.join(', ')}); kart packs one`,
    `pass the one to pack, e.g. ${join(parent, candidates[0] as string)}`,
  );
}

async function linksLeavingTree(dir: string): Promise<string[]> {
  const root = await realpath(dir);
  const leaving: string[] = [];
  for (const name of (await readdir(dir)).sort()) {
    const entry = join(dir, name);
    if (!(await lstat(entry)).isSymbolicLink()) continue;
    const target = await readlink(entry);
    const inside = relative(root, resolve(root, target));
    if (isAbsolute(target) || inside === '' || inside.startsWith('..')) leaving.push(name);
  }
  return leaving;
}
