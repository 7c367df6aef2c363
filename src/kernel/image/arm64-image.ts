import { findBanner } from './find-banner.ts';
import { imageArchUnsupported, imageNoBanner, imageTruncated } from './image-errors.ts';
import type { KernelFile } from './kernel-file.ts';
import type { KernelImageInfo } from './types.ts';

// The arm64 Image header (Documentation/arch/arm64/booting.rst): 64 bytes, little-endian.
const IMAGE_SIZE = 16; // u64, 0 on kernels before 3.17
const FLAGS = 24; // u64, bit 0 set = big-endian kernel
const MAGIC_AT = 0x38;
export const ARM64_HEADER_BYTES = 64;
export const ARM64_MAGIC = Buffer.from('ARM\x64', 'latin1');

export function isArm64Image(head: Uint8Array): boolean {
  return Buffer.from(head.buffer, head.byteOffset, head.byteLength)
    .subarray(MAGIC_AT, MAGIC_AT + 4)
    .equals(ARM64_MAGIC);
}

/** Checks the header's flags; returns the image_size it declares (0 when unknown). */
export function checkArm64Header(path: string, format: string, header: Buffer): bigint {
  if ((header.readBigUInt64LE(FLAGS) & 1n) === 1n) {
    throw imageArchUnsupported(path, format, 'big-endian arm64');
  }
  return header.readBigUInt64LE(IMAGE_SIZE);
}

export async function readArm64Image(file: KernelFile, head: Buffer): Promise<KernelImageInfo> {
  const format = 'arm64 Image';
  const imageSize = checkArm64Header(file.path, format, head);
  const banner = await findBanner(file.stream(ARM64_HEADER_BYTES));
  if (!banner) {
    // The header says how long the image is: shorter means cut off, not "no banner".
    if (imageSize > BigInt(file.size)) {
      throw imageTruncated(
        file.path,
        format,
        `the image_size its header declares (${imageSize} bytes, file has ${file.size})`,
      );
    }
    throw imageNoBanner(file.path, format, 'no "Linux version <release> ..." banner');
  }
  return {
    format: 'Image',
    arch: 'aarch64',
    release: banner.release,
    banner: banner.line,
    compression: 'none',
  };
}
