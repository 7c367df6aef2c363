import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { KartError } from '../../../src/errors.ts';
import { inspectSquashfs } from '../../../src/kernel/addons/index.ts';

const work = mkdtempSync(join(tmpdir(), 'kart-squashfs-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

// A tiny tree, squashed by the real mksquashfs.
const tree = join(work, 'tree');
mkdirSync(join(tree, 'modules/kernel'), { recursive: true });
writeFileSync(join(tree, 'modules/kernel/a.ko'), 'module bytes\n'.repeat(100));
writeFileSync(join(tree, 'modules/modules.order'), 'kernel/a.ko\n');

function squash(name: string, ...args: string[]): string {
  const out = join(work, name);
  execFileSync('mksquashfs', [tree, out, '-noappend', '-quiet', '-no-progress', '-all-root', ...args], {
    stdio: 'ignore',
  });
  return out;
}

/** The filesystem size unsquashfs reports, to compare bytes_used against an independent reader. */
function unsquashfsSize(path: string): number {
  const summary = execFileSync('unsquashfs', ['-s', path], { encoding: 'utf8' });
  return Number(/Filesystem size (\d+) bytes/.exec(summary)?.[1]);
}

let counter = 0;
function place(bytes: Uint8Array): string {
  const path = join(work, `case-${counter++}`);
  writeFileSync(path, bytes);
  return path;
}

async function expectKartError(path: string, code: string, message: string): Promise<void> {
  const before = readFileSync(path);
  const error = await inspectSquashfs(path).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(KartError);
  expect({
    code: (error as KartError).code,
    message: (error as KartError).message,
    exit: (error as KartError).exitCode,
  }).toEqual({ code, message, exit: 2 });
  expect(readFileSync(path).equals(before)).toBe(true);
}

describe('inspectSquashfs on real mksquashfs images', () => {
  for (const comp of ['gzip', 'xz', 'lz4', 'zstd', 'lzo'] as const) {
    it(`reads a ${comp} image's superblock`, async () => {
      const path = squash(`real-${comp}.squashfs`, '-comp', comp, '-mkfs-time', '1700000000');
      expect(await inspectSquashfs(path)).toEqual({
        compression: comp,
        bytesUsed: unsquashfsSize(path),
        fileSize: statSync(path).size,
        inodeCount: 5, // root, modules, kernel, a.ko, modules.order
        mkfsTime: 1700000000,
        blockSize: 131072,
      });
    });
  }
});

describe('inspectSquashfs on bad input', () => {
  const good = readFileSync(squash('good.squashfs'));

  it('refuses an empty file', async () => {
    const path = place(Buffer.alloc(0));
    await expectKartError(
      path,
      'ADDONS_NOT_SQUASHFS',
      `addons image ${path} is not a squashfs image: expected the magic "hsqs" at byte 0, but the file is empty`,
    );
  });

  it('refuses a file without the magic, saying what it found', async () => {
    const path = place(Buffer.from('\x1f\x8b\x08\x00 a gzip file, not squashfs', 'latin1'));
    await expectKartError(
      path,
      'ADDONS_NOT_SQUASHFS',
      `addons image ${path} is not a squashfs image: expected the magic "hsqs" at byte 0, found 1f 8b 08 00`,
    );
  });

  it('reports a file cut inside the superblock as truncated', async () => {
    const path = place(good.subarray(0, 50));
    await expectKartError(
      path,
      'ADDONS_TRUNCATED',
      `addons image ${path}: truncated: the squashfs superblock needs 96 bytes, the file has 50`,
    );
  });

  it('reports a file shorter than bytes_used as truncated', async () => {
    const used = good.readBigUInt64LE(40);
    const path = place(good.subarray(0, 200));
    await expectKartError(
      path,
      'ADDONS_TRUNCATED',
      `addons image ${path}: truncated: the superblock says the filesystem uses ${used} bytes, the file has 200`,
    );
  });

  it('refuses an unknown compression id', async () => {
    const bytes = Buffer.from(good);
    bytes.writeUInt16LE(9, 20);
    const path = place(bytes);
    await expectKartError(
      path,
      'ADDONS_COMPRESSION_UNKNOWN',
      `addons image ${path}: unknown compression id 9 (known: 1 gzip, 2 lzma, 3 lzo, 4 xz, 5 lz4, 6 zstd)`,
    );
  });

  it('refuses squashfs 3.x', async () => {
    const bytes = Buffer.from(good);
    bytes.writeUInt16LE(3, 28);
    bytes.writeUInt16LE(1, 30);
    const path = place(bytes);
    await expectKartError(
      path,
      'ADDONS_VERSION_UNSUPPORTED',
      `addons image ${path}: squashfs version 3.1; Linux mounts 4.0`,
    );
  });

  it('refuses a superblock whose block size disagrees with block_log', async () => {
    const bytes = Buffer.from(good);
    bytes.writeUInt16LE(12, 22);
    const path = place(bytes);
    await expectKartError(
      path,
      'ADDONS_CORRUPT',
      `addons image ${path}: corrupt superblock: block_size 131072 disagrees with block_log`,
    );
  });

  it('refuses a bytes_used smaller than the superblock itself', async () => {
    const bytes = Buffer.from(good);
    bytes.writeBigUInt64LE(10n, 40);
    const path = place(bytes);
    await expectKartError(
      path,
      'ADDONS_CORRUPT',
      `addons image ${path}: corrupt superblock: bytes_used 10 is smaller than the superblock`,
    );
  });

  it('names a missing file and a directory', async () => {
    const missing = join(work, 'no-such.squashfs');
    await expect(inspectSquashfs(missing)).rejects.toMatchObject({
      code: 'ADDONS_NOT_FOUND',
      exitCode: 2,
      message: `addons image ${missing} does not exist`,
    });
    await expect(inspectSquashfs(tree)).rejects.toMatchObject({
      code: 'ADDONS_UNREADABLE',
      exitCode: 2,
      message: `cannot read addons image ${tree}: EISDIR`,
    });
    expect(readdirSync(tree)).toEqual(['modules']);
  });
});
