import { randomBytes } from 'node:crypto';
import { lstat, mkdir, readdir, readlink, rename, rm, rmdir, symlink } from 'node:fs/promises';
import type { Stats } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { KartError } from '../../errors.ts';
import { syncDirectory } from '../../oci/atomic-file.ts';
import { withLayoutLock } from '../../oci/layout-lock.ts';

/**
 * Where an installed kernel lives, and the atomic swap. DEST is a symlink to a complete version
 * directory beside it:
 *
 *     DEST -> .<name>.kart/<manifest-hex>/{kernel,config,addons.squashfs,metadata,kart.json}
 *
 * A new kernel is staged in `.<name>.kart/.staging-<random>/`, fsynced, renamed to its version name,
 * then a fresh symlink `.<name>.kart/.link-<random>` is renamed over DEST: rename(2) replaces DEST in one
 * step, so a reader (or a SIGKILL at any instant) sees the old complete kernel or the new complete one.
 * Only after the swap is the old version removed; leftovers of a killed run (staging, links, versions
 * no longer named by DEST) are removed by the next install.
 *
 * DEST's directory may be shared (a sticky /tmp, a directory other users write to): nothing kart did not
 * make is trusted there. `.<name>.kart` must be a real directory owned by the installing user and
 * writable by no one else, DEST a symlink that user made, and a version directory one that user made;
 * anything else is refused, naming it, and never written into or deleted from.
 */
export interface InstallArea {
  /** absolute DEST */
  dest: string;
  /** absolute `.<name>.kart` directory beside DEST */
  dir: string;
  /** the version DEST points at now, if kart installed one */
  current: string | undefined;
  /** DEST is a populated directory kart did not make, to be moved aside at the swap (`adopt`) */
  foreign?: boolean;
}

export interface OpenInstallAreaOptions {
  /**
   * Take over a populated directory kart did not make (an existing krata zone directory): it is kept,
   * moved aside to a sibling (adoptedName) at the swap, never deleted. Without it, such a DEST is refused.
   */
  adopt?: boolean;
}

const STAGING_PREFIX = '.staging-';
const LINK_PREFIX = '.link-';

export function installAreaDir(dest: string): string {
  const absolute = resolve(dest);
  return join(dirname(absolute), `.${basename(absolute)}.kart`);
}

/** Looks at DEST; refuses anything kart did not make, except a missing or empty directory. */
export async function openInstallArea(
  dest: string,
  options: OpenInstallAreaOptions = {},
): Promise<InstallArea> {
  const absolute = resolve(dest);
  const dir = installAreaDir(absolute);
  const info = await lstat(absolute).catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT') return undefined;
    throw destError(absolute, `cannot be read (${error.code ?? error.message})`);
  });
  let current: string | undefined;
  let foreign = false;
  if (info?.isSymbolicLink()) {
    current = versionNamed(await readlink(absolute), basename(absolute));
    if (current === undefined || !ownedByMe(info)) {
      throw destError(absolute, 'is a symlink that kart did not make', 'remove it, or choose another --dest');
    }
  } else if (info?.isDirectory()) {
    const entries = await readdir(absolute);
    foreign = entries.length > 0 && options.adopt === true;
    if (entries.length > 0 && !foreign) {
      throw destError(
        absolute,
        'is a directory kart did not make, and it is not empty',
        'kart installs into a directory it manages (a symlink to a versioned sibling); pass --adopt to move it aside (kept) and install, or choose another --dest',
      );
    }
  } else if (info !== undefined) {
    throw destError(absolute, 'exists and is not a directory', 'remove it, or choose another --dest');
  }
  try {
    // 0755 at most: the umask only takes bits away, and the check below refuses group/other write.
    await mkdir(dir, { recursive: true, mode: 0o755 });
  } catch (error) {
    throw destError(
      dir,
      `cannot be created (${(error as NodeJS.ErrnoException).code ?? String(error)})`,
      'check that the parent of --dest is writable',
    );
  }
  await checkAreaDir(dir);
  if (current !== undefined) await checkVersionDir(join(dir, current));
  return { dest: absolute, dir, current, ...(foreign ? { foreign } : {}) };
}

/** The install area must be kart's: a real directory of the installing user, writable by no one else. */
async function checkAreaDir(dir: string): Promise<void> {
  const info = await lstat(dir);
  const why = !info.isDirectory()
    ? info.isSymbolicLink()
      ? 'is a symlink, not the directory kart makes'
      : 'is not a directory'
    : !ownedByMe(info)
      ? `belongs to uid ${info.uid}, not to the installing user (uid ${myUid()})`
      : (info.mode & 0o022) !== 0
        ? `is writable by group or others (mode ${(info.mode & 0o777).toString(8)})`
        : undefined;
  if (why !== undefined) {
    throw new KartError('INSTALL_AREA_UNTRUSTED', `install area ${dir} ${why}`, {
      exitCode: 2,
      hint: `kart keeps installed kernels there and will not write through something it did not make; remove ${dir} (nothing kart installed is lost: DEST is re-installed on the next pull) or choose another --dest`,
      details: { path: dir },
    });
  }
}

/** A version directory DEST names must be a real directory the installing user made. */
async function checkVersionDir(path: string): Promise<void> {
  const info = await lstat(path).catch(() => undefined);
  if (info === undefined) return; // DEST dangles: a reinstall replaces it
  if (!info.isDirectory() || !ownedByMe(info)) {
    throw new KartError(
      'INSTALL_AREA_UNTRUSTED',
      `install area version ${path} was not made by the installing user (uid ${info.uid}, ${info.isDirectory() ? 'directory' : 'not a directory'})`,
      {
        exitCode: 2,
        hint: `remove ${path} and DEST, or choose another --dest`,
        details: { path },
      },
    );
  }
}

/**
 * The version directory DEST names, when kart's own record of it can be trusted (see openInstallArea);
 * undefined when DEST is missing, is not kart's symlink, or leads to anything another user made.
 */
export async function trustedVersionDir(dest: string): Promise<string | undefined> {
  try {
    const area = await inspectInstallArea(dest);
    return area?.current === undefined ? undefined : join(area.dir, area.current);
  } catch {
    return undefined;
  }
}

/** openInstallArea without creating anything: for the read-only checks before a pull. */
async function inspectInstallArea(dest: string): Promise<InstallArea | undefined> {
  const absolute = resolve(dest);
  const dir = installAreaDir(absolute);
  const info = await lstat(absolute).catch(() => undefined);
  if (!info?.isSymbolicLink() || !ownedByMe(info)) return undefined;
  const current = versionNamed(await readlink(absolute), basename(absolute));
  if (current === undefined) return undefined;
  await checkAreaDir(dir);
  await checkVersionDir(join(dir, current));
  const kartJson = await lstat(join(dir, current, 'kart.json'));
  if (!kartJson.isFile() || !ownedByMe(kartJson)) return undefined;
  return { dest: absolute, dir, current };
}

/**
 * After a failed install: `.<name>.kart` made for it and left empty is removed, so a failure leaves
 * nothing beside DEST. Kept when it holds anything (another install's lock, a version).
 */
export async function removeEmptyArea(area: InstallArea): Promise<void> {
  await rmdir(area.dir).catch(() => undefined);
}

function myUid(): number {
  return process.geteuid?.() ?? 0;
}

function ownedByMe(info: Stats): boolean {
  return info.uid === myUid();
}

/** Removes what a killed run left behind: staging, temp links, versions DEST no longer names. */
export async function removeLeftovers(area: InstallArea): Promise<void> {
  for (const name of await readdir(area.dir)) {
    if (name === area.current) continue;
    if (isLeftover(name)) {
      await rm(join(area.dir, name), { recursive: true, force: true });
    }
  }
}

export async function createStaging(area: InstallArea): Promise<string> {
  const staging = join(area.dir, `${STAGING_PREFIX}${randomBytes(6).toString('hex')}`);
  await mkdir(staging);
  return staging;
}

/**
 * Makes the staged directory the new version and points DEST at it atomically; removes the old version.
 * `afterSwap` runs once DEST names the new version and the old one is still there (a crash-test pause
 * point). Returns the version name.
 */
export async function swapIn(
  area: InstallArea,
  staging: string,
  manifestHex: string,
  afterSwap?: () => Promise<void>,
): Promise<{ version: string; adopted?: string }> {
  await syncDirectory(staging);
  // Reinstalling the version DEST already names (a repair) must not touch that directory before the
  // swap, so the new copy gets a suffix: `<hex>.<random>` holds the same manifest (see versionHolds).
  const version =
    area.current !== undefined && versionHolds(area.current, manifestHex)
      ? `${manifestHex}.${randomBytes(4).toString('hex')}`
      : manifestHex;
  await rm(join(area.dir, version), { recursive: true, force: true });
  await rename(staging, join(area.dir, version));
  await syncDirectory(area.dir);

  const link = join(area.dir, `${LINK_PREFIX}${randomBytes(6).toString('hex')}`);
  await symlink(`${basename(area.dir)}/${version}`, link);
  // An empty plain directory (checked in openInstallArea) cannot be renamed over; it held nothing.
  // An adopted one is moved aside whole, only now that the new kernel is complete.
  const before = await lstat(area.dest).catch(() => undefined);
  let adopted: string | undefined;
  if (before?.isDirectory() && area.foreign === true) {
    adopted = await freeSiblingName(area.dest, ADOPTED_SUFFIX);
    await rename(area.dest, adopted);
  } else if (before?.isDirectory()) {
    await rmdir(area.dest);
  }
  await rename(link, area.dest);
  await syncDirectory(dirname(area.dest));
  await afterSwap?.();

  if (area.current !== undefined && area.current !== version) {
    await rm(join(area.dir, area.current), { recursive: true, force: true });
  }
  return { version, ...(adopted === undefined ? {} : { adopted }) };
}

const ADOPTED_SUFFIX = '.pre-kart';

/** `<path><suffix>`, or `<path><suffix>.2`, `.3`…: the first that does not exist. */
async function freeSiblingName(path: string, suffix: string): Promise<string> {
  for (let n = 1; ; n++) {
    const candidate = `${path}${suffix}${n === 1 ? '' : `.${n}`}`;
    if ((await lstat(candidate).catch(() => undefined)) === undefined) return candidate;
  }
}

/**
 * Whether the version directory `name` holds the manifest `manifestHex`: it is named `<hex>`, or
 * `<hex>.<8 hex>` when it was installed while DEST already named a `<hex>` version (a repair).
 */
export function versionHolds(name: string, manifestHex: string): boolean {
  return name === manifestHex || (name.startsWith(`${manifestHex}.`) && isVersionName(name));
}

/**
 * For a pull that found DEST already holding its kernel: removes what a killed install left behind
 * (an old version still beside the new one, staging, links). A no-op, without a lock, when there is
 * nothing to remove, which is the common case; when another install holds the area's lock it is left
 * to that install, which removes leftovers itself, rather than waited for.
 */
export async function tidyInstallArea(dest: string): Promise<void> {
  const area = await openInstallArea(dest);
  const names = await readdir(area.dir);
  if (!names.some((name) => name !== area.current && isLeftover(name))) return;
  try {
    await withLayoutLock(
      area.dir,
      async () => {
        await removeLeftovers(await openInstallArea(dest));
      },
      { timeoutMs: 0 },
    );
  } catch (error) {
    if (!(error instanceof KartError && error.code === 'LAYOUT_LOCKED')) throw error;
  }
}

/** `.<name>.kart/<version>` → version; anything else → undefined. */
function versionNamed(target: string, destName: string): string | undefined {
  const prefix = `.${destName}.kart/`;
  if (!target.startsWith(prefix)) return undefined;
  const version = target.slice(prefix.length).replace(/\/$/, '');
  return isVersionName(version) ? version : undefined;
}

function isLeftover(name: string): boolean {
  return name.startsWith(STAGING_PREFIX) || name.startsWith(LINK_PREFIX) || isVersionName(name);
}

function isVersionName(name: string): boolean {
  return /^[a-f0-9]{64}(\.[a-f0-9]{8})?$/.test(name);
}

function destError(path: string, what: string, hint = 'check --dest'): KartError {
  return new KartError('DEST_UNUSABLE', `destination ${path} ${what}`, { hint, details: { dest: path } });
}
