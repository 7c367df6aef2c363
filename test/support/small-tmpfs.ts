/**
 * A small tmpfs mounted for one test (the tests run as root): a disk that fills after a few KiB, or an
 * inode table that runs out after a few files, so "disk full" is a real ENOSPC from a real filesystem.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface TmpfsOptions {
  /** e.g. `2m`, `64k` */
  size?: string;
  nrInodes?: number;
}

export async function withTmpfs<T>(options: TmpfsOptions, work: (dir: string) => Promise<T>): Promise<T> {
  const dir = mkdtempSync(join(tmpdir(), 'kart-tmpfs-'));
  const flags = [
    `size=${options.size ?? '4m'}`,
    ...(options.nrInodes === undefined ? [] : [`nr_inodes=${options.nrInodes}`]),
  ].join(',');
  execFileSync('mount', ['-t', 'tmpfs', '-o', flags, 'tmpfs', dir]);
  try {
    return await work(dir);
  } finally {
    execFileSync('umount', ['-l', dir]);
    rmSync(dir, { recursive: true, force: true });
  }
}
