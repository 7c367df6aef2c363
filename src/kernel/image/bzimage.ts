import { imageArchUnsupported, imageNoBanner, imageTruncated } from './image-errors.ts';
import type { KernelFile } from './kernel-file.ts';
import { compressionFromMagic, LONGEST_MAGIC } from './payload-compression.ts';
import type { KernelImageInfo } from './types.ts';

// The x86 boot protocol's setup header (Documentation/arch/x86/boot.rst); offsets are from the file start.
const SETUP_SECTS = 0x1f1;
const HEADER_MAGIC = 0x202; // "HdrS"
const PROTOCOL_VERSION = 0x206;
const KERNEL_VERSION_POINTER = 0x20e; // the version string is at this value + 0x200
const XLOADFLAGS = 0x236; // protocol 2.12+
const PAYLOAD_OFFSET = 0x248; // protocol 2.08+, relative to the protected-mode code
const PAYLOAD_LENGTH = 0x24c;
const XLF_KERNEL_64 = 0x1;
const MAX_VERSION_STRING = 512;
const FORMAT = 'x86 bzImage';

export const BZIMAGE_MAGIC = Buffer.from('HdrS', 'latin1');
/** How much of the file start the setup header fields above need. */
export const BZIMAGE_HEADER_END = PAYLOAD_OFFSET + 4;

export function isBzImage(head: Buffer): boolean {
  return head.subarray(HEADER_MAGIC, HEADER_MAGIC + 4).equals(BZIMAGE_MAGIC);
}

/** Reads a bzImage whose first bytes (`head`, at least up to the magic) are already in hand. */
export async function readBzImage(file: KernelFile, head: Buffer): Promise<KernelImageInfo> {
  if (head.length < BZIMAGE_HEADER_END) {
    throw imageTruncated(
      file.path,
      FORMAT,
      `the end of its setup header at 0x${BZIMAGE_HEADER_END.toString(16)}`,
    );
  }
  const protocol = head.readUInt16LE(PROTOCOL_VERSION);
  const bootProtocol = `${protocol >> 8}.${protocol & 0xff}`;
  // Before 2.12 there are no xloadflags, so nothing in the header says 64-bit (kernels older than 3.8).
  if (protocol < 0x020c) {
    throw imageArchUnsupported(file.path, FORMAT, `boot protocol ${bootProtocol} (too old to say 64-bit)`);
  }
  if ((head.readUInt16LE(XLOADFLAGS) & XLF_KERNEL_64) === 0) {
    throw imageArchUnsupported(file.path, FORMAT, '32-bit x86 (xloadflags lacks XLF_KERNEL_64)');
  }

  const versionAt = head.readUInt16LE(KERNEL_VERSION_POINTER) + 0x200;
  const versionBytes = await file.readAt(versionAt, MAX_VERSION_STRING);
  const nul = versionBytes.indexOf(0);
  if (nul < 0) {
    throw imageTruncated(
      file.path,
      FORMAT,
      `the end of its kernel_version string at 0x${versionAt.toString(16)} (the pointer at 0x20e + 0x200)`,
    );
  }
  const banner = versionBytes.toString('latin1', 0, nul);
  const release = banner.split(' ', 1)[0] ?? '';
  if (!/^[0-9]/.test(release)) {
    throw imageNoBanner(
      file.path,
      FORMAT,
      `no release at its kernel_version pointer (0x${versionAt.toString(16)}): found ${JSON.stringify(banner.slice(0, 40))}`,
    );
  }

  const compression = compressionFromMagic(await file.readAt(bzImagePayload(head).offset, LONGEST_MAGIC));

  return {
    format: 'bzImage',
    arch: 'x86_64',
    release,
    banner,
    ...(compression === undefined ? {} : { compression }),
    bootProtocol,
  };
}

/**
 * Where the compressed kernel sits in a bzImage whose header `head` (at least BZIMAGE_HEADER_END
 * bytes) has been checked by readBzImage: from the header's payload_offset (relative to the
 * protected-mode code, which follows the setup sectors) for payload_length bytes.
 */
export function bzImagePayload(head: Buffer): { offset: number; length: number } {
  // setup_sects 0 means 4 (boot.rst).
  const setupSectors = head.readUInt8(SETUP_SECTS) || 4;
  return {
    offset: (setupSectors + 1) * 512 + head.readUInt32LE(PAYLOAD_OFFSET),
    // A header cut right after payload_offset is a truncated file: no payload to read.
    length: head.length >= PAYLOAD_LENGTH + 4 ? head.readUInt32LE(PAYLOAD_LENGTH) : 0,
  };
}
