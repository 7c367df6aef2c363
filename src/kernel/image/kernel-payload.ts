import { bzImagePayload } from './bzimage.ts';
import { imageCorrupt, imageTruncated } from './image-errors.ts';
import type { KernelFile } from './kernel-file.ts';
import { decompressPayload } from './payload-decoder.ts';
import type { KernelImageInfo } from './types.ts';
import { zbootHeader, zbootPayload } from './zboot.ts';

const SIZE_TRAILER = 4;

/**
 * The kernel itself (the vmlinux ELF or the arm64 Image) as a stream of decompressed bytes, from a
 * file inspectKernelImage has already recognised as `info`: a bzImage's payload found by its setup
 * header, an Image.gz inflated, a zboot image's payload, a raw Image or vmlinux as it is.
 */
export function kernelPayload(file: KernelFile, head: Buffer, info: KernelImageInfo): AsyncIterable<Buffer> {
  const source = { path: file.path, format: formatName(info) };
  switch (info.format) {
    case 'Image':
    case 'vmlinux':
      return file.stream(0);
    case 'Image.gz':
      return decompressPayload('gzip', file.stream(0), source);
    case 'zboot': {
      const header = zbootHeader(file.path, head);
      const compression = zbootPayload(file, header);
      const end = header.payloadOffset + header.payloadSize;
      return decompressPayload(compression, file.stream(header.payloadOffset, end), source);
    }
    case 'bzImage': {
      const { offset, length } = bzImagePayload(head);
      const compression = info.compression;
      if (compression === undefined || length <= SIZE_TRAILER) {
        throw imageCorrupt(
          file.path,
          source.format,
          `its setup header names no payload kart recognises (at ${offset}, ${length} bytes)`,
        );
      }
      if (offset + length > file.size) {
        throw imageTruncated(
          file.path,
          source.format,
          `the end of its ${compression} payload at ${offset + length} (the file has ${file.size} bytes)`,
        );
      }
      // Every method but gzip is followed by the uncompressed size (LE32), which decoders refuse.
      const end = offset + length - (compression === 'gzip' ? 0 : SIZE_TRAILER);
      return decompressPayload(compression, file.stream(offset, end), source);
    }
  }
}

/** How messages name a format. */
export function formatName(info: KernelImageInfo): string {
  return {
    bzImage: 'x86 bzImage',
    Image: 'arm64 Image',
    'Image.gz': 'arm64 Image.gz',
    zboot: 'EFI zboot',
    vmlinux: 'vmlinux ELF',
  }[info.format];
}
