import { open } from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import { decodeMbrRanges, hasMbrSignature, SECTOR_BYTES } from './mbr.ts';
import { decodeNdPfnInfo, hasNdPfnSignature, ND_PFN_INFO_BYTES, ND_PFN_INFO_OFFSET } from './nd-pfn-info.ts';
import type { ImageRange } from './image-layout.ts';
import { rootfsDaxViewInvalid, rootfsSourceInvalid } from './rootfs-errors.ts';
import type { RootFsType } from '../boot/kernel-command-line.ts';

/**
 * What an existing guest image holds, read from its first table (the virtio-blk view) and p1's magic;
 * for a DAX image the NVDIMM view has been checked to show the very same partitions.
 */
export interface ImageFacts {
  imageBytes: number;
  dax: boolean;
  data: ImageRange;
  hash?: ImageRange;
  fsType: RootFsType | undefined;
}

/**
 * Reads an image kart (or Kata's image_builder.sh) made: the MBR at 0 (partition 1, and 2 when the
 * hash tree is there), the nd_pfn_sb signature at 4 KiB for DAX, and the filesystem's magic. A DAX
 * image's second table must agree with the first (ROOTFS_DAX_VIEW_INVALID, exit 1, otherwise).
 */
export async function readImageFacts(path: string): Promise<ImageFacts> {
  const handle = await open(path, 'r').catch((error: NodeJS.ErrnoException) => {
    throw rootfsSourceInvalid(path, `cannot be read (${error.code ?? error.message})`);
  });
  try {
    const { size } = await handle.stat();
    const head = Buffer.alloc(ND_PFN_INFO_OFFSET + ND_PFN_INFO_BYTES);
    await handle.read(head, 0, head.length, 0);
    if (!hasMbrSignature(head)) throw rootfsSourceInvalid(path, 'has no MBR partition table');
    const [data, hash] = decodeMbrRanges(head, 2);
    if (data === undefined || data.offset + data.bytes > size) {
      throw rootfsSourceInvalid(path, 'partition 1 is missing or runs past the end of the file');
    }
    if (hash !== undefined && hash.offset + hash.bytes > size) {
      throw rootfsSourceInvalid(path, 'partition 2 runs past the end of the file');
    }
    const pfnInfo = head.subarray(ND_PFN_INFO_OFFSET);
    const dax = hasNdPfnSignature(pfnInfo);
    if (dax) await checkDaxView(handle, path, size, pfnInfo, [data, hash]);
    const magic = Buffer.alloc(1024 + 64);
    await handle.read(magic, 0, magic.length, data.offset);
    const fsType: RootFsType | undefined =
      magic.readUInt16LE(1024 + 56) === 0xef53
        ? 'ext4'
        : magic.readUInt32LE(1024) === 0xe0f5e1e2
          ? 'erofs'
          : magic.toString('latin1', 0, 4) === 'XFSB'
            ? 'xfs'
            : undefined;
    return {
      imageBytes: size,
      dax,
      data,
      ...(hash === undefined ? {} : { hash }),
      fsType,
    };
  } finally {
    await handle.close();
  }
}

/**
 * The guest mounts a DAX image through the pmem device, which starts at the nd_pfn_sb's dataoff and
 * whose partitions come from the table there (MBR #2), not from MBR #1: so partitions 1 and 2 must
 * sit at the same bytes in both, or a checked image would boot from unchecked ones.
 */
async function checkDaxView(
  handle: FileHandle,
  path: string,
  size: number,
  pfnInfo: Buffer,
  first: Array<ImageRange | undefined>,
): Promise<void> {
  const info = decodeNdPfnInfo(pfnInfo);
  if ('invalid' in info) throw rootfsDaxViewInvalid(path, `has an nd_pfn_sb at 4096 with ${info.invalid}`);
  if (info.dataOffset + SECTOR_BYTES > size) {
    throw rootfsDaxViewInvalid(path, `starts at dataoff ${info.dataOffset}, past the end of the file`);
  }
  const sector = Buffer.alloc(SECTOR_BYTES);
  await handle.read(sector, 0, SECTOR_BYTES, info.dataOffset);
  if (!hasMbrSignature(sector)) {
    throw rootfsDaxViewInvalid(path, `has no partition table (MBR #2) at dataoff ${info.dataOffset}`);
  }
  const second = decodeMbrRanges(sector, 2).map((range) =>
    range === undefined ? undefined : { offset: info.dataOffset + range.offset, bytes: range.bytes },
  );
  const show = (range: ImageRange | undefined): string =>
    range === undefined ? 'nothing' : `bytes ${range.offset}+${range.bytes}`;
  first.forEach((range, index) => {
    const other = second[index];
    if (range?.offset !== other?.offset || range?.bytes !== other?.bytes) {
      throw rootfsDaxViewInvalid(
        path,
        `puts partition ${index + 1} at ${show(other)} (MBR #2 at dataoff ${info.dataOffset}), but MBR #1 at ${show(range)}`,
      );
    }
  });
}
