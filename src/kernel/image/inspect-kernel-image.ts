import { ARM64_HEADER_BYTES, isArm64Image, readArm64Image } from './arm64-image.ts';
import { readArm64ImageGz } from './arm64-image-gz.ts';
import { BZIMAGE_HEADER_END, isBzImage, readBzImage } from './bzimage.ts';
import { imageEmpty, imageTruncated, imageUnknown } from './image-errors.ts';
import { KernelFile } from './kernel-file.ts';
import type { KernelImageInfo } from './types.ts';
import { isElf, readVmlinuxElf } from './vmlinux-elf.ts';

const HEAD_BYTES = 1024; // covers the x86 setup header, the arm64 header and the ELF header
const BZIMAGE_MAGIC_END = 0x206;

/**
 * Tells what kernel image a file holds, from its bytes (never its name): format, arch, release and
 * banner. Reads a few hundred bytes at known offsets; where the banner has to be searched for
 * (arm64 Image, Image.gz, vmlinux), it streams the file with a bounded window and stops at the banner.
 */
export async function inspectKernelImage(path: string): Promise<KernelImageInfo> {
  const file = await KernelFile.open(path);
  try {
    if (file.size === 0) throw imageEmpty(path);
    const head = await file.readAt(0, HEAD_BYTES);
    if (isElf(head)) return await readVmlinuxElf(file, head);
    if (head[0] === 0x1f && head[1] === 0x8b) return await readArm64ImageGz(file);
    if (head.length >= BZIMAGE_MAGIC_END && isBzImage(head)) return await readBzImage(file, head);
    if (head.length >= ARM64_HEADER_BYTES && isArm64Image(head)) return await readArm64Image(file, head);
    throw whyNotRecognized(file, head);
  } finally {
    await file.close();
  }
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
  if (startsWithMz && head.subarray(4, 8).toString('latin1') === 'zimg') {
    const method = head.subarray(0x18, 0x20).toString('latin1').replace(/\0.*$/s, '');
    return imageUnknown(
      file.path,
      `an EFI zboot image compressed with ${method}, whose inner Image kart does not unwrap`,
    );
  }
  const bytes = [...head.subarray(0, 8)].map((b) => b.toString(16).padStart(2, '0')).join(' ');
  const at202 =
    head.length >= BZIMAGE_HEADER_END
      ? `, ${JSON.stringify(head.toString('latin1', 0x202, 0x206))} at 0x202`
      : '';
  return imageUnknown(file.path, `it starts with ${bytes}${at202}`);
}
