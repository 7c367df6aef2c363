import { open } from 'node:fs/promises';
import { SECTOR_BYTES } from './mbr.ts';
import { ND_PFN_INFO_OFFSET } from './nd-pfn-info.ts';
import type { ImageRange } from './image-layout.ts';
import { rootfsSourceInvalid } from './rootfs-errors.ts';
import type { RootFsType } from '../boot/kernel-command-line.ts';

/** What an existing guest image holds, read from its first table (the virtio-blk view) and p1's magic. */
export interface ImageFacts {
  imageBytes: number;
  dax: boolean;
  data: ImageRange;
  hash?: ImageRange;
  fsType: RootFsType | undefined;
}

/**
 * Reads an image kart (or Kata's image_builder.sh) made: the MBR at 0 (partition 1, and 2 when the
 * hash tree is there), the nd_pfn_sb signature at 4 KiB for DAX, and the filesystem's magic.
 */
export async function readImageFacts(path: string): Promise<ImageFacts> {
  const handle = await open(path, 'r').catch((error: NodeJS.ErrnoException) => {
    throw rootfsSourceInvalid(path, `cannot be read (${error.code ?? error.message})`);
  });
  try {
    const { size } = await handle.stat();
    const head = Buffer.alloc(ND_PFN_INFO_OFFSET + 16);
    await handle.read(head, 0, head.length, 0);
    if (head[510] !== 0x55 || head[511] !== 0xaa)
      throw rootfsSourceInvalid(path, 'has no MBR partition table');
    const partition = (index: number): ImageRange | undefined => {
      const entry = 446 + index * 16;
      const start = head.readUInt32LE(entry + 8) * SECTOR_BYTES;
      const bytes = head.readUInt32LE(entry + 12) * SECTOR_BYTES;
      return bytes === 0 ? undefined : { offset: start, bytes };
    };
    const data = partition(0);
    if (data === undefined || data.offset + data.bytes > size) {
      throw rootfsSourceInvalid(path, 'partition 1 is missing or runs past the end of the file');
    }
    const hash = partition(1);
    if (hash !== undefined && hash.offset + hash.bytes > size) {
      throw rootfsSourceInvalid(path, 'partition 2 runs past the end of the file');
    }
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
      dax: head.toString('latin1', ND_PFN_INFO_OFFSET, ND_PFN_INFO_OFFSET + 16) === 'NVDIMM_PFN_INFO\0',
      data,
      ...(hash === undefined ? {} : { hash }),
      fsType,
    };
  } finally {
    await handle.close();
  }
}
