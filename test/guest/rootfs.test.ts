import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  chmodSync,
  chownSync,
  closeSync,
  existsSync,
  lchownSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readdirSync,
  readFileSync,
  readSync,
  rmSync,
  symlinkSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  encodeMbr,
  encodeNdPfnInfo,
  headerWrites,
  imageSizeFor,
  kataErofsImageMiB,
  rootfsLayout,
} from '../../src/guest/rootfs/index.ts';
import { kernelCommandLine, parseKernelVerityParams } from '../../src/guest/boot/index.ts';
import { verifyVerity } from '../../src/guest/verity/index.ts';
import { KART, runKartSync } from '../support/kart-cli.ts';
import { kartErrorOf } from '../support/kart-error.ts';

const MIB = 1 << 20;
const NOBODY = 65534;
const EPOCH = 1700000000;
const AS_ROOT = process.getuid?.() === 0;

// The builder runs as nobody: its inputs must be readable and its output directory writable by it.
const work = mkdtempSync(join(tmpdir(), 'kart-rootfs-'));
chmodSync(work, 0o777);
afterAll(() => rmSync(work, { recursive: true, force: true }));

function readRange(file: string, offset: number, bytes: number): Buffer {
  const out = Buffer.alloc(bytes);
  const fd = openSync(file, 'r');
  try {
    readSync(fd, out, 0, bytes, offset);
  } finally {
    closeSync(fd);
  }
  return out;
}

/** A small guest tree: an init, nested dirs, a symlink, a file of nobody's, an old mtime. */
function makeTree(name: string, withInit = true): string {
  const root = join(work, name);
  mkdirSync(join(root, 'etc'), { recursive: true });
  mkdirSync(join(root, 'usr/lib/deep/er'), { recursive: true });
  mkdirSync(join(root, 'sbin'));
  if (withInit) writeFileSync(join(root, 'sbin/init'), '#!/bin/sh\nexec /bin/sh\n', { mode: 0o755 });
  writeFileSync(join(root, 'etc/hostname'), 'guest\n');
  writeFileSync(join(root, 'usr/lib/deep/er/blob.bin'), Buffer.alloc(300_000, 7));
  writeFileSync(join(root, 'usr/lib/mine'), 'owned by nobody\n');
  writeFileSync(join(root, 'usr/lib/with space'), 'quoted for debugfs\n');
  symlinkSync('../sbin/init', join(root, 'usr/init'));
  if (AS_ROOT) {
    chownSync(join(root, 'usr/lib/mine'), NOBODY, NOBODY);
    lchownSync(join(root, 'usr/init'), 0, 0);
  }
  utimesSync(join(root, 'etc/hostname'), new Date('2020-01-01'), new Date('2020-01-01'));
  execFileSync('chmod', ['-R', 'a+rX', root]);
  return root;
}

/**
 * Runs `kart` as nobody (no capabilities, no supplementary groups), as an unprivileged builder would;
 * a test run that is not root is unprivileged already and runs kart as itself.
 */
function kartAsNobody(args: string[]): { code: number | null; stdout: string; stderr: string } {
  const drop = AS_ROOT ? ['setpriv', `--reuid=${NOBODY}`, `--regid=${NOBODY}`, '--clear-groups'] : [];
  const [command, ...prefix] = [...drop, process.execPath];
  const run = spawnSync(command!, [...prefix, KART, ...args], {
    encoding: 'utf8',
    env: { ...process.env, SOURCE_DATE_EPOCH: String(EPOCH) },
    cwd: work,
  });
  return { code: run.status, stdout: run.stdout, stderr: run.stderr };
}

const sha256 = (file: string) => createHash('sha256').update(readFileSync(file)).digest('hex');
const sfdisk = (file: string) =>
  (
    JSON.parse(execFileSync('sfdisk', ['--json', file], { encoding: 'utf8' })) as {
      partitiontable: { partitions: Array<Record<string, unknown>> };
    }
  ).partitiontable.partitions.map(({ node: _node, ...rest }) => rest);

describe("the DAX header: Kata's bytes", () => {
  it('nd_pfn_sb: signature, version 0.2, dataoff and align 2 MiB, mode RAM, Fletcher-64 checksum', () => {
    const block = encodeNdPfnInfo({ dataOffset: 2 * MIB, align: 2 * MIB });
    expect(block.length).toBe(4096);
    expect(block.subarray(0, 16).toString('latin1')).toBe('NVDIMM_PFN_INFO\0');
    expect(block.readUInt16LE(52)).toBe(0);
    expect(block.readUInt16LE(54)).toBe(2);
    expect(block.readBigUInt64LE(56)).toBe(0x200000n);
    expect(block.readUInt32LE(72)).toBe(1);
    expect(block.readUInt32LE(84)).toBe(0x200000);
    // The research's value for Kata's parameters, and recomputed here from the kernel's definition.
    expect(block.subarray(4088).toString('hex')).toBe('303894e32b035b68');
    const zeroed = Buffer.from(block);
    zeroed.fill(0, 4088);
    let lo = 0n;
    let hi = 0n;
    for (let at = 0; at < 4096; at += 4) {
      lo = (lo + BigInt(zeroed.readUInt32LE(at))) % 2n ** 32n;
      hi = (hi + lo) % 2n ** 64n;
    }
    expect(block.readBigUInt64LE(4088)).toBe(((hi << 32n) | lo) % 2n ** 64n);
    expect(block.subarray(94, 4088).equals(Buffer.alloc(4088 - 94))).toBe(true);
  });

  it('both MBRs of a 128 MiB image as parted writes them (boot stub, CHS, 55 AA), plain and measured', () => {
    const plain = rootfsLayout(128, { dax: true, verity: false });
    const [mbr1, mbr2] = plain.tables.map((table) => encodeMbr(table.partitions, 0x12345678));
    expect(mbr1!.subarray(446, 462).toString('hex')).toBe('00000130' + '8303e0ff' + '00180000' + '00e80300');
    expect(mbr2!.subarray(446, 462).toString('hex')).toBe('00000110' + '8303e0ff' + '00080000' + '00e80300');
    expect(mbr1!.subarray(0, 4).toString('hex')).toBe('fab80010');
    expect(mbr1!.subarray(71, 75).toString('hex')).toBe('0000ebfe');
    expect(mbr1!.subarray(75, 440).equals(Buffer.alloc(365))).toBe(true);
    expect(mbr1!.readUInt32LE(440)).toBe(0x12345678);
    expect(mbr1!.subarray(510).toString('hex')).toBe('55aa');
    expect(plain.data).toEqual({ offset: 3 * MIB, bytes: 125 * MIB });

    const measured = rootfsLayout(128, { dax: true, verity: true });
    expect(measured.tables.map((t) => t.partitions)).toEqual([
      [
        { bootable: true, startLba: 6144, sectors: 251904 },
        { bootable: false, startLba: 258048, sectors: 4096 },
      ],
      [
        { bootable: true, startLba: 2048, sectors: 251904 },
        { bootable: false, startLba: 253952, sectors: 4096 },
      ],
    ]);
    expect(measured.hash).toEqual({ offset: 126 * MIB, bytes: 2 * MIB });
    expect(headerWrites(measured, [1, 2]).map((w) => w.offset)).toEqual([0, 2 * MIB, 4096]);
  });

  it('sizes: multiples of the alignment that hold the filesystem; tables that would disagree are refused', async () => {
    expect(imageSizeFor(10, { dax: true, verity: true, alignMiB: 128 }).imageMiB).toBe(128);
    expect(imageSizeFor(130, { dax: false, verity: false, alignMiB: 128 }).imageMiB).toBe(256);
    expect(rootfsLayout(256, { dax: false, verity: false }).data).toEqual({ offset: MIB, bytes: 255 * MIB });
    // 101 MiB: MBR #1 puts p2 at floor(99.99) = 99 MiB, MBR #2 at 2 + floor(98.01) = 100 MiB.
    expect((await kartErrorOf(() => rootfsLayout(101, { dax: true, verity: true }))).code).toBe(
      'ROOTFS_LAYOUT_INVALID',
    );
    // 101 and 102 MiB disagree; 103 agrees (p2 at 101 MiB in both) and its p1 (98 MiB) holds 97.
    expect(imageSizeFor(97, { dax: true, verity: true, alignMiB: 1 }).imageMiB).toBe(103);
    expect([kataErofsImageMiB(5 * MIB, false), kataErofsImageMiB(5 * MIB, true)]).toEqual([8, 9]);
  });
});

describe('kart rootfs build, as an unprivileged user', () => {
  const tree = makeTree('tree');

  it('--dax --verity: tables, header, a clean ext4 with the tree, the hash tree in p2; two builds identical', async () => {
    const image = join(work, 'dax.img');
    const run = kartAsNobody(['rootfs', 'build', tree, '-o', image, '--dax', '--verity', '--json']);
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    const built = JSON.parse(run.stdout) as {
      imageBytes: number;
      kernelVerityParams: string;
      kernelCommandLines: Record<string, string>;
    };
    expect(built.imageBytes).toBe(128 * MIB);
    expect(readFileSync(image).length).toBe(128 * MIB);

    expect(sfdisk(image)).toEqual([
      { start: 6144, size: 251904, type: '83', bootable: true },
      { start: 258048, size: 4096, type: '83' },
    ]);
    const pmem = join(work, 'pmem0.img'); // what the guest's /dev/pmem0 is: the file from 2 MiB on
    writeFileSync(pmem, readRange(image, 2 * MIB, 512));
    execFileSync('truncate', ['-s', `${126 * MIB}`, pmem]);
    expect(sfdisk(pmem)).toEqual([
      { start: 2048, size: 251904, type: '83', bootable: true },
      { start: 253952, size: 4096, type: '83' },
    ]);
    expect(
      readRange(image, 4096, 4096).equals(encodeNdPfnInfo({ dataOffset: 2 * MIB, align: 2 * MIB })),
    ).toBe(true);
    expect(readRange(image, 4088 + 4096, 8).toString('hex')).toBe('303894e32b035b68');
    expect(readRange(image, 512, 4096 - 512).equals(Buffer.alloc(4096 - 512))).toBe(true);

    const fs = `${image}?offset=${3 * MIB}`;
    expect(spawnSync('e2fsck', ['-fn', fs]).status).toBe(0);
    const root = execFileSync('debugfs', ['-R', 'ls -l /', fs], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
    });
    for (const name of ['etc', 'sbin', 'usr', 'lost+found'])
      expect(root).toMatch(new RegExp(`\\s${name.replace('+', '\\+')}\\n`));
    const lib = execFileSync('debugfs', ['-R', 'ls -l /usr/lib', fs], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
    });
    expect(lib).toMatch(/100644 \(1\)\s+0\s+0\s+16 14-Nov-2023 22:13 mine/); // nobody's file is root's in the image
    expect(lib).toMatch(/100644 \(1\)\s+0\s+0\s+19 14-Nov-2023 22:13 with space/);
    const hostname = execFileSync('debugfs', ['-R', 'cat /etc/hostname', fs], {
      stdio: ['ignore', 'pipe', 'ignore'],
    });
    expect(hostname.toString()).toBe('guest\n');
    const stat = execFileSync('debugfs', ['-R', 'stat /etc/hostname', fs], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
    });
    expect(stat).toContain('mtime: 0x6553f100:00000000'); // SOURCE_DATE_EPOCH, not 2020
    const link = execFileSync('debugfs', ['-R', 'stat /usr/init', fs], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
    });
    expect(link).toContain('Type: symlink');
    expect(link).toContain('Fast link dest: "../sbin/init"');
    const machineId = execFileSync('debugfs', ['-R', 'stat /etc/machine-id', fs], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
    });
    expect(machineId).toMatch(/Mode:\s+0644/);
    expect(machineId).toMatch(/Size: 0\n/);

    const knob = parseKernelVerityParams(built.kernelVerityParams)!;
    expect(knob).toMatchObject({ dataBlocks: 31488, dataBlockSize: 4096, hashBlockSize: 4096 });
    expect(built.kernelCommandLines).toEqual({
      'virtio-blk': kernelCommandLine(knob, 'virtio-blk', 'ext4').line,
      nvdimm: kernelCommandLine(knob, 'nvdimm', 'ext4').line,
    });
    const p1 = join(work, 'p1.img');
    writeFileSync(p1, readRange(image, 3 * MIB, 123 * MIB));
    const check = spawnSync('veritysetup', [
      'verify',
      '--no-superblock',
      `--salt=${knob.salt}`,
      `--hash-offset=${126 * MIB}`,
      p1,
      image,
      knob.rootHash,
    ]);
    expect(check.status).toBe(0);
    await expect(
      verifyVerity({
        dataPath: image,
        hashPath: image,
        dataOffset: 3 * MIB,
        dataBlocks: 31488,
        hashOffset: 126 * MIB,
        rootHash: knob.rootHash,
        salt: knob.salt,
        superblock: false,
      }),
    ).resolves.toMatchObject({ dataBlocks: 31488 });

    const again = join(work, 'dax-again.img');
    expect(kartAsNobody(['rootfs', 'build', tree, '-o', again, '--dax', '--verity']).code).toBe(0);
    expect(sha256(again)).toBe(sha256(image));
    rmSync(p1);
  });

  it('no DAX, no verity: one table, p1 from 1 MiB to the end; --free-space grows the image by alignment', () => {
    const image = join(work, 'plain.img');
    const run = kartAsNobody(['rootfs', 'build', tree, '-o', image, '--free-space', '200']);
    expect(run.code).toBe(0);
    expect(run.stdout).toContain('256 MiB ext4');
    expect(sfdisk(image)).toEqual([{ start: 2048, size: 522240, type: '83' }]);
    expect(readRange(image, 0, 2).toString('hex')).toBe('fab8');
    expect(spawnSync('e2fsck', ['-fn', `${image}?offset=${MIB}`]).status).toBe(0);
  });

  it("erofs --verity: Kata's size formula, mkfs.erofs options, fsck.erofs clean, verity over p1", () => {
    const image = join(work, 'erofs.img');
    const run = kartAsNobody(['rootfs', 'build', tree, '-o', image, '--fs', 'erofs', '--verity', '--json']);
    expect(run.code).toBe(0);
    const built = JSON.parse(run.stdout) as {
      imageBytes: number;
      layout: { data: { offset: number; bytes: number } };
      kernelCommandLines: Record<string, string>;
    };
    const parts = sfdisk(image);
    expect(parts[0]).toMatchObject({ start: 2048, bootable: true });
    expect(built.kernelCommandLines['virtio-blk']).toContain('rootflags=ro rootfstype=erofs');
    const p1 = join(work, 'erofs-p1.img');
    writeFileSync(p1, readRange(image, built.layout.data.offset, built.layout.data.bytes));
    expect(spawnSync('fsck.erofs', [p1]).status).toBe(0);
    const listing = execFileSync('dump.erofs', ['--ls', '--path=/usr/lib', p1], { encoding: 'utf8' });
    expect(listing).toContain('mine');
    const again = join(work, 'erofs-again.img');
    expect(kartAsNobody(['rootfs', 'build', tree, '-o', again, '--fs', 'erofs', '--verity']).code).toBe(0);
    expect(sha256(again)).toBe(sha256(image));
  });

  it('refuses a tree without init (exit 2, nothing written) unless --no-init-check; bad options are exit 2', () => {
    const bare = makeTree('bare', false);
    const image = join(work, 'bare.img');
    const run = kartAsNobody(['rootfs', 'build', bare, '-o', image, '--json']);
    expect(run.code).toBe(2);
    expect(JSON.parse(run.stdout)).toMatchObject({ error: { code: 'ROOTFS_NO_INIT' } });
    expect(existsSync(image)).toBe(false);
    expect(readdirSync(work).filter((name) => name.endsWith('.tmp'))).toEqual([]);
    expect(kartAsNobody(['rootfs', 'build', bare, '-o', image, '--no-init-check']).code).toBe(0);
    expect(
      kartAsNobody(['rootfs', 'build', join(work, 'absent'), '-o', image, '--no-init-check']).stderr,
    ).toContain('does not exist');
    expect(kartAsNobody(['rootfs', 'build', bare, '-o', image, '--fs', 'btrfs']).code).toBe(2);
    const missing = runKartSync(['rootfs', 'build', bare, '-o', image, '--no-init-check', '--json'], {
      env: { ...process.env, PATH: '/nonexistent' },
    });
    expect(missing.code).toBe(2);
    expect(JSON.parse(missing.stdout)).toMatchObject({
      error: { code: 'ROOTFS_TOOL_MISSING', hint: 'install the Debian package e2fsprogs' },
    });
    const free = kartAsNobody(['rootfs', 'build', tree, '-o', image, '--fs', 'erofs', '--free-space', '5']);
    expect(free.code).toBe(2);
    expect(free.stderr).toContain('read-only');
  });
});
