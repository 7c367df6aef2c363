/**
 * `kart rootfs build --fs xfs`: mkfs.xfs -p protofile stamps every inode with the build's time, so kart
 * rewrites the four times (and the sticky bits a protofile cannot carry) with xfs_db; two builds of
 * the same tree are then the same bytes, and xfs_repair finds partition 1 clean.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  chmodSync,
  closeSync,
  existsSync,
  createReadStream,
  ftruncateSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readSync,
  rmSync,
  symlinkSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { buildRootfsImage, readImageFacts } from '../../src/guest/index.ts';
import { kartErrorOf } from '../support/kart-error.ts';

const EPOCH = 1700000000;
const work = mkdtempSync(join(tmpdir(), 'kart-rootfs-xfs-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

function partitionOne(image: string, offset: number, bytes: number): string {
  const out = join(work, 'p1.xfs');
  const from = openSync(image, 'r');
  const to = openSync(out, 'w');
  try {
    const chunk = Buffer.alloc(1 << 20);
    for (let done = 0; done < bytes; done += chunk.length) {
      const read = readSync(from, chunk, 0, Math.min(chunk.length, bytes - done), offset + done);
      // Sparse: an xfs partition is mostly zeros.
      if (!chunk.subarray(0, read).equals(Buffer.alloc(read))) writeSync(to, chunk, 0, read, done);
    }
    ftruncateSync(to, bytes);
  } finally {
    closeSync(from);
    closeSync(to);
  }
  return out;
}

async function sha256Of(file: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(file)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

const xfsDb = (file: string, ...commands: string[]) =>
  execFileSync('xfs_db', ['-r', ...commands.flatMap((command) => ['-c', command]), file], {
    encoding: 'utf8',
  });

describe('kart rootfs build --fs xfs', () => {
  it('--dax: two builds identical, partition 1 a clean xfs with fixed times and the sticky bit', async () => {
    const tree = join(work, 'tree');
    mkdirSync(join(tree, 'sbin'), { recursive: true });
    mkdirSync(join(tree, 'etc'));
    mkdirSync(join(tree, 'tmp'));
    writeFileSync(join(tree, 'sbin/init'), '#!/bin/sh\n', { mode: 0o755 });
    writeFileSync(join(tree, 'etc/motd'), 'xfs\n');
    symlinkSync('../sbin/init', join(tree, 'etc/init'));
    chmodSync(join(tree, 'tmp'), 0o1777);
    const build = (name: string) =>
      buildRootfsImage({
        sourceDir: tree,
        output: join(work, name),
        fsType: 'xfs',
        dax: true,
        sourceDateEpoch: EPOCH,
      });
    const first = await build('one.img');
    const second = await build('two.img');
    expect(await sha256Of(first.image)).toBe(await sha256Of(second.image));
    expect(first.imageBytes).toBe(384 << 20); // xfsprogs' 300 MiB minimum, rounded to 128 MiB
    const facts = await readImageFacts(first.image);
    expect(facts).toMatchObject({ dax: true, fsType: 'xfs', data: first.layout.data });

    const p1 = partitionOne(first.image, first.layout.data.offset, first.layout.data.bytes);
    execFileSync('xfs_repair', ['-n', p1], { stdio: 'ignore' }); // throws unless exit 0
    const listing = xfsDb(p1, 'blockget -n', 'ncheck');
    expect(
      listing
        .trim()
        .split('\n')
        .map((line) => line.trim().split(' ')[1]),
    ).toEqual(['etc/.', 'etc/init', 'etc/motd', 'etc/machine-id', 'sbin/.', 'sbin/init', 'tmp/.']);
    const tmp = /(\d+) tmp\/\./.exec(listing)![1]!;
    const fields = xfsDb(p1, `inode ${tmp}`, 'p core.mode core.mtime.sec core.ctime.nsec v3.crtime.sec');
    expect(fields).toBe(
      [
        'core.mode = 041777',
        'core.mtime.sec = Tue Nov 14 22:13:20 2023',
        'core.ctime.nsec = 0',
        'v3.crtime.sec = Tue Nov 14 22:13:20 2023',
        '',
      ].join('\n'),
    );
  });

  it('refuses a name a protofile cannot hold (exit 2, ROOTFS_OPTION_INVALID), writing nothing', async () => {
    const tree = join(work, 'spaced');
    mkdirSync(join(tree, 'sbin'), { recursive: true });
    writeFileSync(join(tree, 'sbin/init'), '#!/bin/sh\n', { mode: 0o755 });
    writeFileSync(join(tree, 'sbin/a b'), '');
    const output = join(work, 'spaced.img');
    const error = await kartErrorOf(buildRootfsImage({ sourceDir: tree, output, fsType: 'xfs' }));
    expect(error.code).toBe('ROOTFS_OPTION_INVALID');
    expect(error.exitCode).toBe(2);
    expect(error.message).toBe(
      '"/sbin/a b": an xfs protofile cannot name a file with whitespace, or "$" (its end of directory)',
    );
    expect(existsSync(output)).toBe(false);
  });
});
