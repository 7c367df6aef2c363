/**
 * An MS-DOS partition table sector exactly as GNU parted 3.5 writes it on a fresh regular file
 * (libparted/labels/dos.c msdos_write), so kart's images match Kata's image_builder.sh byte for byte
 * apart from the disk signature, which parted draws at random and kart takes from the caller.
 */
export interface MbrPartition {
  /** the boot flag (0x80): Kata sets it on partition 1 of a measured image */
  bootable: boolean;
  startLba: number;
  sectors: number;
}

export const SECTOR_BYTES = 512;
const PARTITION_TYPE_LINUX = 0x83;

/** parted's fixed 75-byte boot stub (dos.c MBR_BOOT_CODE). */
const PARTED_BOOT_CODE = Buffer.from(
  'fab800108ed0bc00b0b800008ed88ec0fbbe007cbf0006b90002f3a4ea21060000bebe073804750b83c61081fefe0775f3eb16b402b001bb007cb2808a74018b4c02cd13ea007c0000ebfe',
  'hex',
);

/**
 * parted's CHS for a regular file: 4 heads × 32 sectors (arch/linux.c), clamped to 1023/3/31 past
 * cylinder 1023 (dos.c sector_to_chs). Bytes: head, sector | cylinder high bits, cylinder low byte.
 */
export function chsBytes(lba: number): [number, number, number] {
  let cylinder = Math.floor(lba / 128);
  let head = Math.floor(lba / 32) % 4;
  let sector = lba % 32;
  if (cylinder > 1023) {
    cylinder = 1023;
    head = 3;
    sector = 31;
  }
  return [head, (sector + 1) | ((cylinder >> 8) << 6), cylinder & 0xff];
}

export function encodeMbr(partitions: readonly MbrPartition[], diskSignature: number): Buffer {
  const sector = Buffer.alloc(SECTOR_BYTES);
  PARTED_BOOT_CODE.copy(sector, 0);
  sector.writeUInt32LE(diskSignature >>> 0, 440);
  partitions.forEach((partition, index) => {
    const entry = 446 + index * 16;
    sector[entry] = partition.bootable ? 0x80 : 0;
    sector.set(chsBytes(partition.startLba), entry + 1);
    sector[entry + 4] = PARTITION_TYPE_LINUX;
    sector.set(chsBytes(partition.startLba + partition.sectors - 1), entry + 5);
    sector.writeUInt32LE(partition.startLba, entry + 8);
    sector.writeUInt32LE(partition.sectors, entry + 12);
  });
  sector[510] = 0x55;
  sector[511] = 0xaa;
  return sector;
}

/** The byte ranges of a table's first `count` entries (undefined where an entry is empty), relative to the table. */
export function decodeMbrRanges(
  sector: Buffer,
  count: number,
): Array<{ offset: number; bytes: number } | undefined> {
  return Array.from({ length: count }, (_, index) => {
    const entry = 446 + index * 16;
    const bytes = sector.readUInt32LE(entry + 12) * SECTOR_BYTES;
    return bytes === 0 ? undefined : { offset: sector.readUInt32LE(entry + 8) * SECTOR_BYTES, bytes };
  });
}

/** Whether a sector ends with the 55 AA boot signature of a partition table. */
export function hasMbrSignature(sector: Buffer): boolean {
  return sector[510] === 0x55 && sector[511] === 0xaa;
}
