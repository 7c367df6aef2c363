import { open, readlink, writeFile } from 'node:fs/promises';
import type { Stats } from 'node:fs';
import { join } from 'node:path';
import { rootfsOptionInvalid } from './rootfs-errors.ts';
import { walkRootfsTree, type RootfsTreeSummary } from './rootfs-tree.ts';
import { runTool } from './run-tool.ts';

/** A path whose mode has the sticky bit (its whole st_mode, type included, as xfs_db writes it). */
export interface StickyEntry {
  path: string;
  mode: number;
}

/** xfsprogs refuses smaller filesystems (since 5.19). */
export const XFS_MIN_MIB = 300;
const BIGTIME_EPOCH_OFFSET = 2n ** 31n;

/**
 * The protofile `mkfs.xfs -p` fills the filesystem from: one line per entry (name, type and mode,
 * owner, then the host file or link target), a `$` closing each directory. Its modes carry no sticky
 * bit, so the paths that need one are returned for the fixup. Names are whitespace-separated tokens
 * and `$` ends a directory: such names cannot be written (ROOTFS_OPTION_INVALID).
 */
export async function writeXfsProtofile(
  sourceDir: string,
  file: string,
  options: { allRoot: boolean; emptyFile: string },
): Promise<{ summary: RootfsTreeSummary; sticky: StickyEntry[] }> {
  const out = await open(file, 'wx');
  const open_: string[] = [];
  const sticky: StickyEntry[] = [];
  let machineId = false;
  const owner = (stats: Stats) => (options.allRoot ? '0 0' : `${stats.uid} ${stats.gid}`);
  const close = async (): Promise<void> => {
    const dir = open_.pop();
    if (dir === '/etc' && !machineId) {
      // Kata's builder touches /etc/machine-id so systemd starts with an empty, not a missing, one.
      await out.write(`machine-id ---644 0 0 ${options.emptyFile}\n`);
    }
    await out.write('$\n');
  };
  try {
    await out.write('kart\n0 0\n');
    const summary = await walkRootfsTree(sourceDir, async (path, stats) => {
      const perm = (stats.mode & 0o777).toString(8).padStart(3, '0');
      const flags = `${stats.mode & 0o4000 ? 'u' : '-'}${stats.mode & 0o2000 ? 'g' : '-'}${perm}`;
      if (stats.mode & 0o1000) sticky.push({ path, mode: stats.mode & 0o177777 });
      if (path === '/') {
        await out.write(`d${flags} ${owner(stats)}\n`);
        open_.push('');
        return;
      }
      if (/\s/.test(path) || path.endsWith('/$')) {
        throw rootfsOptionInvalid(
          `${JSON.stringify(path)}: an xfs protofile cannot name a file with whitespace, or "$" (its end of directory)`,
          'rename it, or use --fs ext4',
        );
      }
      const parent = path.slice(0, path.lastIndexOf('/'));
      while (open_.at(-1) !== parent) await close();
      const name = path.slice(parent.length + 1);
      if (path === '/etc/machine-id') machineId = true;
      const host = join(sourceDir, path);
      if (stats.isDirectory()) {
        await out.write(`${name} d${flags} ${owner(stats)}\n`);
        open_.push(path);
      } else if (stats.isFile()) {
        await out.write(`${name} -${flags} ${owner(stats)} ${host}\n`);
      } else if (stats.isSymbolicLink()) {
        const target = await readlink(host);
        if (/\s/.test(target) || target === '') {
          throw rootfsOptionInvalid(
            `${JSON.stringify(path)}: an xfs protofile cannot hold a link target with whitespace`,
            'use --fs ext4',
          );
        }
        await out.write(`${name} l${flags} ${owner(stats)} ${target}\n`);
      } else if (stats.isBlockDevice() || stats.isCharacterDevice()) {
        const major = Math.floor(stats.rdev / 256) & 0xfff;
        const minor = (stats.rdev & 0xff) | ((stats.rdev >> 12) & 0xfff00);
        await out.write(
          `${name} ${stats.isBlockDevice() ? 'b' : 'c'}${flags} ${owner(stats)} ${major} ${minor}\n`,
        );
      } else if (stats.isFIFO()) {
        await out.write(`${name} p${flags} ${owner(stats)}\n`);
      } else {
        throw rootfsOptionInvalid(`${JSON.stringify(path)}: a socket cannot go into an image`, 'remove it');
      }
    });
    while (open_.length > 0) await close();
    return { summary, sticky };
  } finally {
    await out.close();
  }
}

/**
 * mkfs.xfs with Kata's options (4 KiB blocks, no reflink: DAX excludes it), filled from the
 * protofile, into its own file (mkfs.xfs has no offset option). xfsprogs 6.1 stamps every inode with
 * the time of the build and has no SOURCE_DATE_EPOCH, so afterwards xfs_db sets each inode's four
 * times (bigtime: one 64-bit count of nanoseconds from 1901-12-13) and the sticky bits the protofile
 * cannot carry; the UUID is given. The same tree and epoch then make the same bytes.
 */
export async function makeXfs(options: {
  file: string;
  protofile: string;
  /** where the xfs_db commands are written (one per inode and field: too many for argv) */
  script: string;
  uuid: string;
  epoch: number;
  sticky: readonly StickyEntry[];
}): Promise<void> {
  await runTool(
    'mkfs.xfs',
    [
      '-q',
      '-f',
      '-b',
      'size=4096',
      '-m',
      `reflink=0,bigtime=1,uuid=${options.uuid}`,
      '-p',
      options.protofile,
      options.file,
    ],
    { pkg: 'xfsprogs' },
  );
  const listing = await runTool(
    'xfs_db',
    ['-r', '-c', 'sb 0', '-c', 'p rootino rbmino rsumino', '-c', 'blockget -n', '-c', 'ncheck', options.file],
    { pkg: 'xfsprogs' },
  );
  const paths = new Map<string, string>();
  const inodes = new Set<string>();
  for (const line of listing.stdout.split('\n')) {
    const field = /^(?:rootino|rbmino|rsumino) = (\d+)$/.exec(line);
    if (field) inodes.add(field[1]!);
    const entry = /^\s*(\d+) (.+)$/.exec(line);
    if (entry) {
      inodes.add(entry[1]!);
      paths.set(`/${entry[2]!.replace(/\/\.$/, '')}`, entry[1]!);
    }
  }
  const time = ((BigInt(options.epoch) + BIGTIME_EPOCH_OFFSET) * 1_000_000_000n).toString();
  const commands: string[] = [];
  for (const inode of [...inodes].sort((a, b) => Number(a) - Number(b))) {
    commands.push(`inode ${inode}`);
    for (const field of ['core.atime', 'core.mtime', 'core.ctime', 'v3.crtime']) {
      commands.push(`write ${field} ${time}`);
    }
  }
  const rootIno = /^rootino = (\d+)$/m.exec(listing.stdout)?.[1];
  for (const { path, mode } of options.sticky) {
    const inode = path === '/' ? rootIno : paths.get(path);
    if (inode !== undefined) commands.push(`inode ${inode}`, `write core.mode 0${mode.toString(8)}`);
  }
  await writeFile(options.script, `${commands.join('\n')}\n`, { flag: 'wx' });
  await runTool('xfs_db', ['-x', '-c', `source ${options.script}`, options.file], { pkg: 'xfsprogs' });
}
