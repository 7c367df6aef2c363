/**
 * A small XFS filesystem with reflinks, loop-mounted for one test (the tests run as root; xfsprogs is
 * one of scripts/debian-deps.sh's packages): the kind of filesystem where a copy can share its blocks.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export async function withXfs<T>(work: (dir: string) => Promise<T>): Promise<T> {
  const scratch = mkdtempSync(join(tmpdir(), 'kart-xfs-'));
  const image = join(scratch, 'xfs.img');
  const dir = join(scratch, 'mnt');
  mkdirSync(dir);
  // 300 MiB is the smallest XFS mkfs.xfs makes; the file is sparse.
  execFileSync('truncate', ['-s', '300M', image]);
  execFileSync('mkfs.xfs', ['-q', '-m', 'reflink=1', image]);
  execFileSync('mount', ['-o', 'loop', image, dir]);
  try {
    return await work(dir);
  } finally {
    execFileSync('umount', ['-l', dir]);
    rmSync(scratch, { recursive: true, force: true });
  }
}

/** Whether every extent of `path` is shared with another file (FIEMAP's SHARED flag, 0x2000). */
export function extentsShared(path: string): boolean {
  const map = execFileSync('xfs_io', ['-r', '-c', 'fiemap -v', path], { encoding: 'utf8' });
  const flags = [...map.matchAll(/^\s*\d+:\s+\[[^\]]+\]:\s+\S+\s+\S+\s+(0x[0-9a-f]+)/gm)].map((m) =>
    Number(m[1]),
  );
  return flags.length > 0 && flags.every((flag) => (flag & 0x2000) !== 0);
}
