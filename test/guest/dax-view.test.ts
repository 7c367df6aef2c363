/**
 * A DAX image is booted through its NVDIMM view: the nd_pfn_sb at 4 KiB sends the pmem device to
 * dataoff, where MBR #2 names /dev/pmem0p1 and p2. readImageFacts (publish --rootfs, pull -k) must
 * refuse an image whose second view differs from the first, the one the root hash was checked on.
 */
import {
  copyFileSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  closeSync,
  readSync,
  rmSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildRootfsImage, readImageFacts } from '../../src/guest/index.ts';
import { ndFletcher64 } from '../../src/guest/rootfs/nd-pfn-info.ts';
import { kartErrorOf } from '../support/kart-error.ts';

const MIB = 1 << 20;
const work = mkdtempSync(join(tmpdir(), 'kart-dax-view-'));
let good: string;
afterAll(() => rmSync(work, { recursive: true, force: true }));
beforeAll(async () => {
  const tree = join(work, 'tree');
  mkdirSync(join(tree, 'sbin'), { recursive: true });
  writeFileSync(join(tree, 'sbin/init'), '#!/bin/sh\n', { mode: 0o755 });
  good = (
    await buildRootfsImage({
      sourceDir: tree,
      output: join(work, 'good.img'),
      dax: true,
      verity: true,
      alignMiB: 8,
      sourceDateEpoch: 1700000000,
    })
  ).image;
});

/** A copy of the good image with `edit` applied to the bytes at `offset`. */
function edited(name: string, offset: number, bytes: number, edit: (range: Buffer) => void): string {
  const file = join(work, name);
  copyFileSync(good, file);
  const fd = openSync(file, 'r+');
  try {
    const range = Buffer.alloc(bytes);
    readSync(fd, range, 0, bytes, offset);
    edit(range);
    writeSync(fd, range, 0, bytes, offset);
  } finally {
    closeSync(fd);
  }
  return file;
}

describe("a DAX image's NVDIMM view", () => {
  it('agrees with MBR #1 on a kart image: both put p1 at 3 MiB and p2 at the same byte', async () => {
    const facts = await readImageFacts(good);
    expect(facts.dax).toBe(true);
    expect(facts.data.offset).toBe(3 * MIB);
    expect(facts.hash!.offset + facts.hash!.bytes).toBe(facts.imageBytes);
  });

  it('refuses an MBR #2 that moves partition 2 (ROOTFS_DAX_VIEW_INVALID, exit 1)', async () => {
    const facts = await readImageFacts(good);
    // MBR #2's entry 2: start LBA +8 sectors, 8 sectors fewer (what the pmem device would read as p2).
    const image = edited('moved-p2.img', 2 * MIB, 512, (mbr) => {
      mbr.writeUInt32LE(mbr.readUInt32LE(446 + 16 + 8) + 8, 446 + 16 + 8);
      mbr.writeUInt32LE(mbr.readUInt32LE(446 + 16 + 12) - 8, 446 + 16 + 12);
    });
    const error = await kartErrorOf(readImageFacts(image));
    expect(error.code).toBe('ROOTFS_DAX_VIEW_INVALID');
    expect(error.exitCode).toBe(1);
    const { offset, bytes } = facts.hash!;
    expect(error.message).toBe(
      `${image}: the NVDIMM (DAX) view of the image puts partition 2 at bytes ${offset + 4096}+${bytes - 4096} (MBR #2 at dataoff ${2 * MIB}), but MBR #1 at bytes ${offset}+${bytes}`,
    );
  });

  it('refuses an nd_pfn_sb with a bad checksum, and one whose dataoff has no MBR #2', async () => {
    const badSum = edited('bad-checksum.img', 4096, 4096, (block) => {
      block.writeUInt8(block.readUInt8(4088) ^ 1, 4088);
    });
    const sum = await kartErrorOf(readImageFacts(badSum));
    expect(sum.code).toBe('ROOTFS_DAX_VIEW_INVALID');
    expect(sum.message).toMatch(
      /has an nd_pfn_sb at 4096 with checksum 0x[0-9a-f]+ is not the block's fletcher64/,
    );

    // dataoff 3 MiB with a correct checksum: the pmem device would start at the ext4 filesystem.
    const moved = edited('moved-dataoff.img', 4096, 4096, (block) => {
      block.writeBigUInt64LE(BigInt(3 * MIB), 56);
      block.fill(0, 4088);
      block.writeBigUInt64LE(ndFletcher64(block), 4088);
    });
    const table = await kartErrorOf(readImageFacts(moved));
    expect(table.code).toBe('ROOTFS_DAX_VIEW_INVALID');
    expect(table.message).toBe(
      `${moved}: the NVDIMM (DAX) view of the image has no partition table (MBR #2) at dataoff ${3 * MIB}`,
    );
  });
});
