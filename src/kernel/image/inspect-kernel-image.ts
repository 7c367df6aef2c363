import { ARM64_HEADER_BYTES, isArm64Image, readArm64Image } from './arm64-image.ts';
import { readArm64ImageGz } from './arm64-image-gz.ts';
import { BZIMAGE_HEADER_END, isBzImage, readBzImage } from './bzimage.ts';
import { findBanner } from './find-banner.ts';
import { imageEmpty, imageNoBanner, imageTruncated, imageUnknown } from './image-errors.ts';
import { KernelFile } from './kernel-file.ts';
import { formatName, kernelPayload } from './kernel-payload.ts';
import type { KernelImageInfo } from './types.ts';
import { isElf, readVmlinuxElf } from './vmlinux-elf.ts';
import { isZboot, readZbootImage } from './zboot.ts';

const HEAD_BYTES = 1024; // covers the x86 setup header, the arm64 header and the ELF header
const BZIMAGE_MAGIC_END = 0x206;

export interface InspectKernelImageOptions {
  /**
   * Also decompress a bzImage's payload as far as its `Linux version ...` banner, and report that full
   * line as `banner` instead of the setup header's kernel_version string (xz, lz4, zstd, gzip, lzma).
   */
  payloadBanner?: boolean;
}

/**
 * Tells what kernel image a file holds, from its bytes (never its name): format, arch, release and
 * banner. Reads a few hundred bytes at known offsets; where the banner has to be searched for
 * (arm64 Image, Image.gz, zboot, vmlinux), it streams the file with a bounded window and stops at the banner.
 */
export async function inspectKernelImage(
  path: string,
  options: InspectKernelImageOptions = {},
): Promise<KernelImageInfo> {
  return withKernelImage(path, async (file, head, info) => {
    if (options.payloadBanner !== true || info.format !== 'bzImage') return info;
    const banner = await findBanner(kernelPayload(file, head, info));
    if (!banner)
      throw imageNoBanner(path, formatName(info), 'a payload with no "Linux version <release> ..." banner');
    return { ...info, banner: banner.line };
  });
}

/**
 * Opens a kernel image, recognises it (as inspectKernelImage does), and hands the open file, its
 * first bytes and what it is to `use`; the file is closed when `use` settles.
 */
export async function withKernelImage<T>(
  path: string,
  use: (file: KernelFile, head: Buffer, info: KernelImageInfo) => Promise<T>,
): Promise<T> {
  const file = await KernelFile.open(path);
  try {
    if (file.size === 0) throw imageEmpty(path);
    const head = await file.readAt(0, HEAD_BYTES);
    return await use(file, head, await recognise(file, head));
  } finally {
    await file.close();
  }
}

async function recognise(file: KernelFile, head: Buffer): Promise<KernelImageInfo> {
  if (isElf(head)) return await readVmlinuxElf(file, head);
  if (head[0] === 0x1f && head[1] === 0x8b) return await readArm64ImageGz(file);
  if (isZboot(head)) return await readZbootImage(file, head);
  if (head.length >= BZIMAGE_MAGIC_END && isBzImage(head)) return await readBzImage(file, head);
  if (head.length >= ARM64_HEADER_BYTES && isArm64Image(head)) return await readArm64Image(file, head);
  throw whyNotRecognized(file, head);
}

function whyNotRecognized(file: KernelFile, head: Buffer): Error {
  const startsWithMz = head[0] === 0x4d && head[1] === 0x5a;
  // Both bzImages and arm64 Images with an EFI stub start with "MZ": a short one was cut off.
  if (startsWithMz && head.length < BZIMAGE_MAGIC_END) {
    return imageTruncated(
      file.path,
      'kernel image',
      `the magic at 0x38 (arm64 Image) or 0x202 (x86 bzImage): it starts with "MZ" but has only ${file.size} bytes`,
    );
  }
  const bytes = [...head.subarray(0, 8)].map((b) => b.toString(16).padStart(2, '0')).join(' ');
  const at202 =
    head.length >= BZIMAGE_HEADER_END
      ? `, ${JSON.stringify(head.toString('latin1', 0x202, 0x206))} at 0x202`
      : '';
  return imageUnknown(file.path, `it starts with ${bytes}${at202}`);
}
