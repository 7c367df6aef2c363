import { findBanner } from './find-banner.ts';
import { imageArchUnsupported, imageNoBanner, imageTruncated } from './image-errors.ts';
import type { KernelFile } from './kernel-file.ts';
import type { KernelArch, KernelImageInfo } from './types.ts';

// ELF header fields (the System V gABI); offsets differ between ELFCLASS32 and ELFCLASS64 after e_entry.
const EI_CLASS = 4;
const EI_DATA = 5;
const E_MACHINE = 0x12;
const ELFCLASS32 = 1;
const ELFCLASS64 = 2;
const ELFDATA2LSB = 1;
const HEADER_BYTES = { [ELFCLASS32]: 52, [ELFCLASS64]: 64 } as const;
// ELF64 section header table fields; only 64-bit kernels get that far.
const E_SHOFF = 0x28;
const E_SHENTSIZE = 0x3a;
const E_SHNUM = 0x3c;
const MACHINES: Record<number, string> = { 3: 'i386', 40: 'arm', 62: 'x86_64', 183: 'aarch64' };
const SUPPORTED: Record<number, KernelArch> = { 62: 'x86_64', 183: 'aarch64' };
const FORMAT = 'vmlinux ELF';

export const ELF_MAGIC = Buffer.from('\x7fELF', 'latin1');
/** Enough of the file start for either class's header. */
export const ELF_HEADER_BYTES = 64;

export function isElf(head: Buffer): boolean {
  return head.subarray(0, 4).equals(ELF_MAGIC);
}

export async function readVmlinuxElf(file: KernelFile, head: Buffer): Promise<KernelImageInfo> {
  if (head.length <= EI_DATA)
    throw imageTruncated(file.path, FORMAT, 'its ELF identification bytes (e_ident)');
  const elfClass = head[EI_CLASS] as number;
  if (elfClass !== ELFCLASS32 && elfClass !== ELFCLASS64) {
    throw imageArchUnsupported(file.path, FORMAT, `ELF class ${elfClass} (neither 32- nor 64-bit)`);
  }
  const headerBytes = HEADER_BYTES[elfClass];
  if (head.length < headerBytes) {
    throw imageTruncated(file.path, FORMAT, `the end of its ${headerBytes}-byte ELF header`);
  }
  const bits = elfClass === ELFCLASS64 ? 64 : 32;
  if (head[EI_DATA] !== ELFDATA2LSB) {
    throw imageArchUnsupported(file.path, FORMAT, `big-endian ${bits}-bit ELF`);
  }
  const machine = head.readUInt16LE(E_MACHINE);
  const arch = SUPPORTED[machine];
  if (arch === undefined || elfClass !== ELFCLASS64) {
    throw imageArchUnsupported(
      file.path,
      FORMAT,
      `${bits}-bit ELF for ${MACHINES[machine] ?? `machine ${machine}`}`,
    );
  }
  const sectionHeadersEnd =
    Number(head.readBigUInt64LE(E_SHOFF)) + head.readUInt16LE(E_SHENTSIZE) * head.readUInt16LE(E_SHNUM);
  if (sectionHeadersEnd > file.size) {
    throw imageTruncated(
      file.path,
      FORMAT,
      `its section header table (ends at ${sectionHeadersEnd}, file has ${file.size} bytes)`,
    );
  }
  const banner = await findBanner(file.stream(headerBytes));
  if (!banner) throw imageNoBanner(file.path, FORMAT, 'no "Linux version <release> ..." banner');
  return { format: 'vmlinux', arch, release: banner.release, banner: banner.line, compression: 'none' };
}
