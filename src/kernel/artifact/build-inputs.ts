import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { KartError } from '../../errors.ts';

/**
 * Which files of a kernel build go into the artifact. Explicit paths win; otherwise one build directory
 * is searched for the conventional names (at its top and in its boot/ folder, so both a kernel build
 * tree's output folder and an unpacked distribution package work). Two candidates for one role are
 * never guessed between: the user is told both and asked to pick with an explicit flag.
 */
export interface BuildInputOptions {
  /** a build directory to search for whatever is not given explicitly */
  buildDir?: string;
  kernel?: string;
  config?: string;
  /** an existing addons.squashfs */
  addons?: string;
  /** a lib/modules/<release> tree (or its parent) to pack into addons.squashfs */
  modules?: string;
}

export type AddonsInput = { kind: 'squashfs'; path: string } | { kind: 'modules'; path: string };

export type BuildInputRole = 'kernel' | 'config' | 'addons' | 'modules';

/** One decision, so the CLI can say "took bzImage as the kernel image (found in the build directory)". */
export interface BuildInputChoice {
  role: BuildInputRole;
  path: string;
  from: 'option' | 'build directory';
}

export interface BuildInputs {
  kernel: string;
  config: string;
  addons?: AddonsInput;
  choices: BuildInputChoice[];
}

const KERNEL_NAMES = (name: string): boolean =>
  name === 'bzImage' || name === 'Image' || name === 'Image.gz' || name.startsWith('vmlinuz');
const CONFIG_NAMES = (name: string): boolean =>
  name === '.config' || (name.startsWith('config') && !name.endsWith('.old'));
const ADDONS_NAMES = (name: string): boolean => name === 'addons.squashfs';

/** Resolves the inputs; throws BUILD_INPUT_* KartErrors (exit 2) naming what is missing or ambiguous. */
export async function discoverBuildInputs(options: BuildInputOptions): Promise<BuildInputs> {
  if (options.addons !== undefined && options.modules !== undefined) {
    throw new KartError('BUILD_INPUT_CONFLICT', '--addons and --modules were both given', {
      hint: 'pass an existing addons.squashfs with --addons, or a modules tree with --modules, not both',
    });
  }
  const choices: BuildInputChoice[] = [];
  const dir = options.buildDir;
  if (dir !== undefined) await requireDirectory(dir, 'build directory');

  const kernel = await pickRole('kernel', options.kernel, dir, KERNEL_NAMES, choices);
  const config = await pickRole('config', options.config, dir, CONFIG_NAMES, choices);
  let addons: AddonsInput | undefined;
  if (options.addons !== undefined) {
    await requireFile(options.addons, 'addons');
    addons = { kind: 'squashfs', path: options.addons };
    choices.push({ role: 'addons', path: options.addons, from: 'option' });
  } else if (options.modules !== undefined) {
    await requireDirectory(options.modules, 'modules');
    addons = { kind: 'modules', path: options.modules };
    choices.push({ role: 'modules', path: options.modules, from: 'option' });
  } else if (dir !== undefined) {
    addons = await discoverAddons(dir, choices);
  }

  if (kernel === undefined) {
    throw new KartError(
      'BUILD_INPUT_MISSING',
      dir === undefined
        ? 'no kernel image given'
        : `no kernel image in build directory ${dir} (looked for bzImage, Image, Image.gz, vmlinuz* in it and in its boot/)`,
      { hint: 'pass the kernel image with --kernel FILE' },
    );
  }
  if (config === undefined) {
    throw new KartError(
      'BUILD_INPUT_MISSING',
      dir === undefined
        ? 'no kernel config given'
        : `no kernel config in build directory ${dir} (looked for .config and config* in it and in its boot/)`,
      { hint: 'pass the .config or config.gz with --config FILE' },
    );
  }
  return { kernel, config, ...(addons === undefined ? {} : { addons }), choices };
}

async function pickRole(
  role: 'kernel' | 'config',
  explicit: string | undefined,
  dir: string | undefined,
  matches: (name: string) => boolean,
  choices: BuildInputChoice[],
): Promise<string | undefined> {
  if (explicit !== undefined) {
    await requireFile(explicit, role);
    choices.push({ role, path: explicit, from: 'option' });
    return explicit;
  }
  if (dir === undefined) return undefined;
  const found = await candidates(dir, matches, 'file');
  if (found.length > 1) throw competing(role, found, role === 'kernel' ? '--kernel' : '--config');
  const only = found[0];
  if (only !== undefined) choices.push({ role, path: only, from: 'build directory' });
  return only;
}

async function discoverAddons(dir: string, choices: BuildInputChoice[]): Promise<AddonsInput | undefined> {
  const squashfs = await candidates(dir, ADDONS_NAMES, 'file');
  const modules = await candidates(dir, (name) => name === 'modules', 'directory', ['lib']);
  const all = [...squashfs, ...modules];
  if (all.length > 1) throw competing('addons', all, '--addons or --modules');
  const squash = squashfs[0];
  if (squash !== undefined) {
    choices.push({ role: 'addons', path: squash, from: 'build directory' });
    return { kind: 'squashfs', path: squash };
  }
  const mods = modules[0];
  if (mods !== undefined) {
    choices.push({ role: 'modules', path: mods, from: 'build directory' });
    return { kind: 'modules', path: mods };
  }
  return undefined;
}

/** Matching entries of `dir` and `dir/boot` (or the given subfolders), sorted for stable messages. */
async function candidates(
  dir: string,
  matches: (name: string) => boolean,
  kind: 'file' | 'directory',
  subfolders: string[] = ['', 'boot'],
): Promise<string[]> {
  const found: string[] = [];
  for (const sub of subfolders) {
    const where = sub === '' ? dir : join(dir, sub);
    let names: string[];
    try {
      names = await readdir(where);
    } catch {
      continue; // no boot/ (or lib/) folder: nothing to find there
    }
    for (const name of names.sort()) {
      if (!matches(name)) continue;
      const path = join(where, name);
      const info = await stat(path).catch(() => undefined);
      if (info === undefined) continue;
      if (kind === 'file' ? info.isFile() : info.isDirectory()) found.push(path);
    }
  }
  return found;
}

function competing(role: BuildInputRole, paths: string[], flag: string): KartError {
  return new KartError(
    'BUILD_INPUT_AMBIGUOUS',
    `the build directory holds more than one candidate for the ${role}: ${paths.join(', ')}`,
    { hint: `say which one with ${flag}`, details: { role, candidates: paths } },
  );
}

async function requireFile(path: string, role: string): Promise<void> {
  const info = await stat(path).catch((error: NodeJS.ErrnoException) => error);
  if (info instanceof Error || !info.isFile()) {
    throw new KartError(
      'BUILD_INPUT_NOT_FOUND',
      `${role} ${path} ${info instanceof Error ? 'does not exist or cannot be read' : 'is not a regular file'}`,
      { hint: `check the path given for the ${role}` },
    );
  }
}

async function requireDirectory(path: string, role: string): Promise<void> {
  const info = await stat(path).catch((error: NodeJS.ErrnoException) => error);
  if (info instanceof Error || !info.isDirectory()) {
    throw new KartError(
      'BUILD_INPUT_NOT_FOUND',
      `${role} ${path} ${info instanceof Error ? 'does not exist or cannot be read' : 'is not a directory'}`,
      { hint: `check the path given for the ${role}` },
    );
  }
}
