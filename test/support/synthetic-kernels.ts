/**
 * Small, deterministic synthetic kernel images for tests: just the headers and the banner a real
 * build carries where kart looks for them, filled with zeros elsewhere. Real Debian kernels
 * (debian-kernels.ts) stay the proof for bzImage; these cover the formats and faults Debian does not ship.
 */
import { gzipSync } from 'node:zlib';

export type SyntheticCompression = 'gzip' | 'bzip2' | 'lzma' | 'xz' | 'lzo' | 'lz4' | 'zstd';

const PAYLOAD_MAGICS: Record<SyntheticCompression, number[]> = {
  gzip: [0x1f, 0x8b, 0x08, 0x00],
  bzip2: [0x42, 0x5a, 0x68, 0x39],
  lzma: [0x5d, 0x00, 0x00, 0x80],
  xz: [0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00],
  lzo: [0x89, 0x4c, 0x5a, 0x4f],
  lz4: [0x02, 0x21, 0x4c, 0x18],
  zstd: [0x28, 0xb5, 0x2f, 0xfd],
};

/** The `Linux version ...` line a kernel build prints and embeds (with its newline). */
export function syntheticBanner(release: string): string {
  return `Linux version ${release} (builder@kart.test) (gcc (Debian 12.2.0-14) 12.2.0, GNU ld 2.40) #1 SMP PREEMPT_DYNAMIC\n`;
}

/** The bzImage kernel_version string: what the setup header points at. */
export function syntheticBzImageVersion(release: string): string {
  return `${release} (builder@kart.test) #1 SMP PREEMPT_DYNAMIC`;
}

export interface BzImageOptions {
  compression?: SyntheticCompression;
  /** boot protocol, e.g. 0x020f (2.15); default 0x020f */
  protocol?: number;
  /** sets XLF_KERNEL_64 in xloadflags; default true */
  is64bit?: boolean;
}

/**
 * An x86 bzImage: "MZ", 4 setup sectors with the setup header at 0x1f1 ("HdrS" at 0x202), the
 * kernel_version string at 0x400 (pointer 0x200 at 0x20e), and a payload that starts with the
 * chosen compression's magic at (4 + 1) * 512 + payload_offset. 3 KiB.
 */
export function makeBzImage(release: string, options: BzImageOptions = {}): Buffer {
  const setupSectors = 4;
  const payloadOffset = 0x100;
  const image = Buffer.alloc((setupSectors + 1) * 512 + payloadOffset + 256);
  image.write('MZ', 0, 'latin1');
  image.writeUInt8(setupSectors, 0x1f1);
  image.writeUInt16LE(0xaa55, 0x1fe);
  image.write('HdrS', 0x202, 'latin1');
  image.writeUInt16LE(options.protocol ?? 0x020f, 0x206);
  image.writeUInt16LE(0x0200, 0x20e);
  image.writeUInt8(0x01, 0x211); // loadflags: LOADED_HIGH
  image.writeUInt16LE((options.is64bit ?? true) ? 0x7f : 0x7e, 0x236);
  image.writeUInt32LE(payloadOffset, 0x248);
  image.writeUInt32LE(256, 0x24c);
  image.write(`${syntheticBzImageVersion(release)}\0`, 0x400, 'latin1');
  Buffer.from(PAYLOAD_MAGICS[options.compression ?? 'zstd']).copy(
    image,
    (setupSectors + 1) * 512 + payloadOffset,
  );
  return image;
}

export interface Arm64ImageOptions {
  /** zero bytes between the 64-byte header and the banner; default 4032 (banner at 4 KiB) */
  bannerOffset?: number;
  /** zero bytes after the banner; default 1024 */
  tail?: number;
  /** image_size written into the header; default the real length */
  declaredSize?: number;
  /** sets the big-endian flag; default false */
  bigEndian?: boolean;
}

/** An arm64 Image: the 64-byte header ("ARM\x64" at 0x38, "MZ" at 0) and the banner later on. ~5 KiB. */
export function makeArm64Image(release: string, options: Arm64ImageOptions = {}): Buffer {
  const banner = Buffer.from(`${syntheticBanner(release)}\0`, 'latin1');
  const bannerAt = 64 + (options.bannerOffset ?? 4032);
  const image = Buffer.alloc(bannerAt + banner.length + (options.tail ?? 1024));
  image.write('MZ', 0, 'latin1'); // an EFI stub's first instruction doubles as the PE magic
  image.writeBigUInt64LE(0x0n, 8); // text_offset
  image.writeBigUInt64LE(BigInt(options.declaredSize ?? image.length), 16);
  image.writeBigUInt64LE(options.bigEndian ? 0xbn : 0xan, 24); // 4K pages, anywhere in RAM, endianness
  image.write('ARM\x64', 0x38, 'latin1');
  banner.copy(image, bannerAt);
  return image;
}

/** makeArm64Image gzipped, as arch/arm64/boot/Image.gz (deterministic: zlib writes mtime 0). */
export function makeArm64ImageGz(release: string, options: Arm64ImageOptions = {}): Buffer {
  return gzipSync(makeArm64Image(release, options), { level: 9 });
}

export type ElfMachine = 'x86_64' | 'aarch64' | 'i386' | 'arm';
const ELF_MACHINES: Record<ElfMachine, number> = { i386: 3, arm: 40, x86_64: 62, aarch64: 183 };

export interface VmlinuxElfOptions {
  release: string;
  bits?: 32 | 64;
  machine?: ElfMachine;
  bigEndian?: boolean;
  /** zero bytes between the ELF header and the banner; default 4096 - header */
  bannerOffset?: number;
}

/** A vmlinux ELF: a valid ELF header (no sections) and the banner inside. ~5 KiB. */
export function makeVmlinuxElf(options: VmlinuxElfOptions): Buffer {
  const bits = options.bits ?? 64;
  const headerBytes = bits === 64 ? 64 : 52;
  const banner = Buffer.from(`${syntheticBanner(options.release)}\0`, 'latin1');
  const bannerAt = headerBytes + (options.bannerOffset ?? 4096 - headerBytes);
  const image = Buffer.alloc(bannerAt + banner.length + 512);
  const le = !options.bigEndian;
  image.write('\x7fELF', 0, 'latin1');
  image.writeUInt8(bits === 64 ? 2 : 1, 4);
  image.writeUInt8(le ? 1 : 2, 5);
  image.writeUInt8(1, 6); // EV_CURRENT
  const u16 = (value: number, at: number) =>
    le ? image.writeUInt16LE(value, at) : image.writeUInt16BE(value, at);
  u16(2, 0x10); // ET_EXEC
  u16(ELF_MACHINES[options.machine ?? 'x86_64'], 0x12);
  u16(headerBytes, bits === 64 ? 0x34 : 0x28); // e_ehsize
  banner.copy(image, bannerAt);
  return image;
}
