import { KartError } from '../../errors.ts';
import {
  imageArchUnsupported,
  imageCorrupt,
  imageNoBanner,
  imageTruncated,
  imageUnknown,
} from './image-errors.ts';
import { scanInnerArm64Image } from './inner-arm64-image.ts';
import type { KernelFile } from './kernel-file.ts';
import { DECOMPRESSIBLE, decompressPayload } from './payload-decoder.ts';
import type { KernelCompression, KernelImageInfo } from './types.ts';

/**
 * An EFI zboot image (CONFIG_EFI_ZBOOT; LinuxKit's 6.12 arm64 `vmlinuz.efi`): a small PE/COFF EFI
 * application whose DOS header carries "zimg" and says where the compressed Image lies
 * (drivers/firmware/efi/libstub/zboot-header.S). All fields are little-endian.
 */
const ZIMG_AT = 4;
const PAYLOAD_OFFSET = 8;
const PAYLOAD_SIZE = 12; // already without the 4-byte size the build appends
const COMPRESSION_NAME = 0x18; // NUL-terminated, up to the PE header pointer
const PE_POINTER = 0x3c;
export const ZBOOT_HEADER_END = PE_POINTER + 4;
const FORMAT = 'EFI zboot';

/** PE machine types a zboot image may carry (the PE/COFF specification). */
const MACHINES: Record<number, string> = {
  0xaa64: 'aarch64',
  0x5064: 'riscv64',
  0x5032: 'riscv32',
  0x6264: 'loongarch64',
  0x8664: 'x86_64',
};

// Makefile.zboot's comp-type names: `xzkern` and `zstd22` are xz and zstd with the kernel's settings.
const METHODS: Record<string, KernelCompression> = {
  gzip: 'gzip',
  lz4: 'lz4',
  lzma: 'lzma',
  lzo: 'lzo',
  xzkern: 'xz',
  xz: 'xz',
  zstd22: 'zstd',
  zstd: 'zstd',
  bzip2: 'bzip2',
};

export interface ZbootHeader {
  payloadOffset: number;
  payloadSize: number;
  /** the name the header gives, e.g. `zstd22` */
  method: string;
  compression: KernelCompression | undefined;
  /** the PE header's machine, when the PE header lies within `head` */
  machine: string | undefined;
}

export function isZboot(head: Buffer): boolean {
  return (
    head.length >= ZIMG_AT + 4 &&
    head[0] === 0x4d &&
    head[1] === 0x5a &&
    head.toString('latin1', ZIMG_AT, ZIMG_AT + 4) === 'zimg'
  );
}

export function zbootHeader(path: string, head: Buffer): ZbootHeader {
  if (head.length < ZBOOT_HEADER_END) {
    throw imageTruncated(path, FORMAT, `the end of its zboot header at 0x${ZBOOT_HEADER_END.toString(16)}`);
  }
  const method = head.toString('latin1', COMPRESSION_NAME, PE_POINTER).replace(/\0.*$/s, '');
  const peAt = head.readUInt32LE(PE_POINTER);
  let machine: string | undefined;
  if (peAt + 6 <= head.length && head.toString('latin1', peAt, peAt + 4) === 'PE\0\0') {
    const type = head.readUInt16LE(peAt + 4);
    machine = MACHINES[type] ?? `PE machine 0x${type.toString(16)}`;
  }
  return {
    payloadOffset: head.readUInt32LE(PAYLOAD_OFFSET),
    payloadSize: head.readUInt32LE(PAYLOAD_SIZE),
    method,
    compression: METHODS[method],
    machine,
  };
}

/** Checks the header against the file and returns the payload's compression, one kart decompresses. */
export function zbootPayload(file: KernelFile, header: ZbootHeader): KernelCompression {
  if (header.machine !== undefined && header.machine !== 'aarch64') {
    throw imageArchUnsupported(file.path, FORMAT, header.machine);
  }
  const compression = header.compression;
  if (compression === undefined || !DECOMPRESSIBLE.includes(compression)) {
    throw new KartError(
      'IMAGE_COMPRESSION_UNSUPPORTED',
      `${FORMAT} ${file.path} holds an Image compressed with ${JSON.stringify(header.method)}, which kart does not decompress`,
      {
        hint: `kart decompresses ${DECOMPRESSIBLE.join(', ')} payloads; build with one of them (CONFIG_KERNEL_GZIP or CONFIG_KERNEL_ZSTD)`,
        details: { method: header.method },
      },
    );
  }
  const end = header.payloadOffset + header.payloadSize;
  if (header.payloadSize === 0 || header.payloadOffset < ZBOOT_HEADER_END) {
    throw imageCorrupt(
      file.path,
      FORMAT,
      `its header puts the payload at ${header.payloadOffset} for ${header.payloadSize} bytes`,
    );
  }
  if (end > file.size) {
    throw imageTruncated(
      file.path,
      FORMAT,
      `the end of its ${compression} payload at ${end} (the file has ${file.size} bytes)`,
    );
  }
  return compression;
}

/**
 * Reads the inner Image's header and banner, decompressing the payload only as far as the banner.
 * The PE machine says which architecture before anything is decompressed; the inner Image's own
 * magic must agree.
 */
export async function readZbootImage(file: KernelFile, head: Buffer): Promise<KernelImageInfo> {
  const header = zbootHeader(file.path, head);
  const compression = zbootPayload(file, header);
  const payload = file.stream(header.payloadOffset, header.payloadOffset + header.payloadSize);
  const scan = await scanInnerArm64Image(
    decompressPayload(compression, payload, { path: file.path, format: FORMAT }),
    file.path,
    FORMAT,
    (inner) => {
      const riscv = inner.toString('latin1', 0x38, 0x3c) === 'RSC\x05';
      return riscv
        ? imageArchUnsupported(file.path, FORMAT, 'riscv64 (its inner Image is a RISC-V Image)')
        : imageUnknown(
            file.path,
            `an EFI zboot image whose decompressed payload has no "ARM\\x64" at 0x38, so no arm64 Image`,
          );
    },
  );
  if (!scan.banner) {
    if (!scan.headerSeen) {
      throw imageTruncated(
        file.path,
        FORMAT,
        `the 64-byte arm64 Image header (its payload inflates to ${scan.inflated} bytes)`,
      );
    }
    throw imageNoBanner(file.path, FORMAT, 'an inner Image with no "Linux version <release> ..." banner');
  }
  return {
    format: 'zboot',
    arch: 'aarch64',
    release: scan.banner.release,
    banner: scan.banner.line,
    compression,
  };
}
