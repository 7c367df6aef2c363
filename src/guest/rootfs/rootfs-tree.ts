import { createHash } from 'node:crypto';
import { lstat, opendir, readlink } from 'node:fs/promises';
import type { Stats } from 'node:fs';
import { join } from 'node:path';
import { rootfsNameUnsupported, rootfsNoInit, rootfsSourceInvalid } from './rootfs-errors.ts';

export interface RootfsTreeSummary {
  /** files, directories and links */
  entries: number;
  /** bytes the content takes in 4 KiB blocks (files rounded up, one block per directory) */
  blockBytes: number;
  /** SHA-256 over the sorted listing (path, type, mode, size, link target): names the tree for its UUID */
  listingDigest: Buffer;
  hasEtc: boolean;
  hasMachineId: boolean;
}

const BLOCK = 4096;

/** Kata refuses a rootfs it could not boot; an init or the agent as init is what it looks for. */
export async function checkGuestInit(dir: string): Promise<void> {
  for (const candidate of ['sbin/init', 'usr/bin/kata-agent']) {
    if (
      await lstat(join(dir, candidate)).then(
        () => true,
        () => false,
      )
    )
      return;
  }
  throw rootfsNoInit(dir);
}

function kindOf(stats: Stats): string {
  if (stats.isDirectory()) return 'd';
  if (stats.isFile()) return 'f';
  if (stats.isSymbolicLink()) return 'l';
  return 'o';
}

/**
 * Walks the tree depth first in name order (so the listing, and whatever is derived from it, is the
 * same for the same tree), calling `visit` with each path as the image will name it ("/etc/hosts").
 * Only one directory's names are held at a time.
 */
export async function walkRootfsTree(
  dir: string,
  visit: (imagePath: string, stats: Stats) => Promise<void>,
): Promise<RootfsTreeSummary> {
  const top = await lstat(dir).catch(() => undefined);
  if (top === undefined) throw rootfsSourceInvalid(dir, 'does not exist');
  if (!top.isDirectory()) throw rootfsSourceInvalid(dir, 'is not a directory');
  const listing = createHash('sha256');
  let entries = 0;
  let blockBytes = BLOCK;
  await visit('/', top);
  const walk = async (hostDir: string, imageDir: string): Promise<void> => {
    const names: string[] = [];
    const handle = await opendir(hostDir).catch((error: NodeJS.ErrnoException) => {
      throw rootfsSourceInvalid(hostDir, `cannot be read (${error.code ?? error.message})`);
    });
    for await (const entry of handle) names.push(entry.name);
    names.sort();
    for (const name of names) {
      const hostPath = join(hostDir, name);
      const imagePath = `${imageDir}${name}`;
      if (/["\n]/.test(imagePath)) throw rootfsNameUnsupported(imagePath);
      const stats = await lstat(hostPath);
      const kind = kindOf(stats);
      const target = kind === 'l' ? await readlink(hostPath) : '';
      listing.update(
        `${kind} ${(stats.mode & 0o7777).toString(8)} ${kind === 'f' ? stats.size : 0} ${imagePath}\0${target}\0`,
      );
      entries++;
      if (kind === 'f') blockBytes += Math.ceil(stats.size / BLOCK) * BLOCK;
      else if (kind === 'd') blockBytes += BLOCK;
      await visit(imagePath, stats);
      if (kind === 'd') await walk(hostPath, `${imagePath}/`);
    }
  };
  await walk(dir, '/');
  const etc = await lstat(join(dir, 'etc')).catch(() => undefined);
  const machineId = await lstat(join(dir, 'etc/machine-id')).catch(() => undefined);
  return {
    entries,
    blockBytes,
    listingDigest: listing.digest(),
    hasEtc: etc?.isDirectory() === true,
    hasMachineId: machineId !== undefined,
  };
}
