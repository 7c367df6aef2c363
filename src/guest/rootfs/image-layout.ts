import { encodeMbr, SECTOR_BYTES, type MbrPartition } from './mbr.ts';
import { ND_PFN_INFO_OFFSET, encodeNdPfnInfo } from './nd-pfn-info.ts';
import { rootfsLayoutInvalid } from './rootfs-errors.ts';

export const MIB = 1 << 20;
/** Kata's DAX header: MBR #1, nd_pfn_sb, zeros, then the rootfs disk (with MBR #2) from 2 MiB. */
export const DAX_HEADER_MIB = 2;
/** Partition 1 starts 1 MiB into the rootfs disk (parted -a optimal "1MiB"). */
const ROOTFS_START_MIB = 1;

/** A byte range of the image file. */
export interface ImageRange {
  offset: number;
  bytes: number;
}

export interface RootfsLayout {
  imageMiB: number;
  dax: boolean;
  verity: boolean;
  /** partition 1: the filesystem */
  data: ImageRange;
  /** partition 2: the dm-verity hash tree (with verity) */
  hash?: ImageRange;
  /** the partition tables: at 0 (virtio-blk's view) and, with DAX, at 2 MiB (the pmem device's view) */
  tables: Array<{ offset: number; partitions: MbrPartition[] }>;
}

/**
 * Kata's partitioning of a disk of `diskMiB` whose first partition starts at `startMiB`: with verity,
 * p2 (hash) from floor(0.99·disk) MiB to the last sector and p1 (bootable) up to it; without, p1 to the
 * end (image_builder.sh create_disk: `hash_start = img_size * 0.99`, cut at the decimal point).
 */
function kataPartitions(diskMiB: number, startMiB: number, verity: boolean): MbrPartition[] {
  const sectorsPerMiB = MIB / SECTOR_BYTES;
  const start = startMiB * sectorsPerMiB;
  const end = diskMiB * sectorsPerMiB;
  if (!verity) return [{ bootable: false, startLba: start, sectors: end - start }];
  const hashStart = Math.floor((diskMiB * 99) / 100) * sectorsPerMiB;
  return [
    { bootable: true, startLba: start, sectors: hashStart - start },
    { bootable: false, startLba: hashStart, sectors: end - hashStart },
  ];
}

/**
 * Where everything goes in an image of `imageMiB`. With DAX the two tables are made independently, as
 * Kata makes them (MBR #1 for the whole file with p1 at 3 MiB; MBR #2 for the rootfs disk at 2 MiB);
 * with verity they must put partition 2 at the same byte, or one of the two views would read a
 * different tree: ROOTFS_LAYOUT_INVALID (never with sizes that are multiples of 128 MiB).
 */
export function rootfsLayout(imageMiB: number, options: { dax: boolean; verity: boolean }): RootfsLayout {
  const { dax, verity } = options;
  const base = dax ? DAX_HEADER_MIB : 0;
  const disk = kataPartitions(imageMiB - base, ROOTFS_START_MIB, verity);
  const absolute = disk.map((p) => ({
    offset: base * MIB + p.startLba * SECTOR_BYTES,
    bytes: p.sectors * SECTOR_BYTES,
  }));
  const tables = [{ offset: base * MIB, partitions: disk }];
  if (dax) {
    const whole = kataPartitions(imageMiB, base + ROOTFS_START_MIB, verity);
    whole.forEach((p, index) => {
      const expected = absolute[index]!;
      if (p.startLba * SECTOR_BYTES !== expected.offset || p.sectors * SECTOR_BYTES !== expected.bytes) {
        throw rootfsLayoutInvalid(imageMiB, index + 1);
      }
    });
    tables.unshift({ offset: 0, partitions: whole });
  }
  if (absolute[0]!.bytes <= 0) throw rootfsLayoutInvalid(imageMiB, 1);
  return {
    imageMiB,
    dax,
    verity,
    data: absolute[0]!,
    ...(verity ? { hash: absolute[1]! } : {}),
    tables,
  };
}

/** The smallest multiple of `alignMiB` whose partition 1 holds `fsMiB` and whose tables agree. */
export function imageSizeFor(
  fsMiB: number,
  options: { dax: boolean; verity: boolean; alignMiB: number },
): RootfsLayout {
  let imageMiB = Math.max(options.alignMiB, Math.ceil((fsMiB + 4) / options.alignMiB) * options.alignMiB);
  for (;;) {
    try {
      const layout = rootfsLayout(imageMiB, options);
      if (layout.data.bytes >= fsMiB * MIB) return layout;
    } catch {
      // tables that disagree at this size: the next aligned size
    }
    imageMiB += options.alignMiB;
  }
}

/** The header bytes kart writes, each with its file offset: MBR #1, nd_pfn_sb (DAX), MBR #2 (DAX). */
export function headerWrites(
  layout: RootfsLayout,
  diskSignatures: [number, number],
): Array<{ offset: number; bytes: Buffer }> {
  const writes = layout.tables.map((table, index) => ({
    offset: table.offset,
    bytes: encodeMbr(table.partitions, diskSignatures[index] ?? 0),
  }));
  if (layout.dax) {
    writes.push({
      offset: ND_PFN_INFO_OFFSET,
      bytes: encodeNdPfnInfo({ dataOffset: DAX_HEADER_MIB * MIB, align: DAX_HEADER_MIB * MIB }),
    });
  }
  return writes;
}
