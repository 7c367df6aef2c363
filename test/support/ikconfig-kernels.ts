/**
 * Kernel images with an embedded config, laid out as a real build lays them out: a kernel (a vmlinux
 * ELF for x86, an arm64 Image) whose bytes hold the banner and `IKCFG_ST` + config_data.gz +
 * `IKCFG_ED` (kernel/configs.c), compressed by the real tools with the kernel build's own settings
 * (scripts/Makefile.lib: gzip -n -9, xz --check=crc32 --x86, lz4 -l -9, zstd -22 --ultra, lzma -9,
 * each but gzip followed by the uncompressed size), then wrapped as a bzImage, an Image.gz or an EFI
 * zboot image. No real vmlinux section is needed: kart looks only for the markers and the banner.
 */
import { execFileSync } from 'node:child_process';
import { gzipSync } from 'node:zlib';
import { makeArm64Image, makeBzImage, makeVmlinuxElf } from './synthetic-kernels.ts';

export type PayloadCompression = 'gzip' | 'xz' | 'lz4' | 'zstd' | 'lzma';

const COMPRESSORS: Record<PayloadCompression, string[]> = {
  gzip: ['gzip', '-n', '-9', '-c'],
  xz: ['xz', '--check=crc32', '--threads=1', '--x86', '--lzma2=dict=32MiB', '-c'],
  lz4: ['lz4', '-l', '-9', '-c'],
  zstd: ['zstd', '-22', '--ultra', '-q', '-c'],
  lzma: ['xz', '--format=lzma', '-9', '-c'],
};

/** The config bytes as the kernel embeds them: between the markers, gzipped. */
export function ikconfigBlock(config: string): Buffer {
  return Buffer.concat([
    Buffer.from('IKCFG_ST', 'latin1'),
    gzipSync(config, { level: 9 }),
    Buffer.from('IKCFG_ED', 'latin1'),
  ]);
}

/** Random-looking filler, so the compressors have something to do and the markers sit deep inside. */
function filler(length: number, seed: number): Buffer {
  const bytes = Buffer.alloc(length);
  let x = seed;
  for (let i = 0; i < length; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    bytes[i] = (x >>> 16) & 0x3f;
  }
  return bytes;
}

/** An x86 vmlinux: ELF header, banner, filler, then the embedded config (when given) and more filler. */
export function makeIkconfigVmlinux(release: string, config: string | undefined): Buffer {
  const elf = makeVmlinuxElf({ release });
  return Buffer.concat([
    elf,
    filler(200_000, 1),
    config === undefined ? Buffer.alloc(0) : ikconfigBlock(config),
    filler(100_000, 2),
  ]);
}

/** An arm64 Image (header, banner) with the embedded config after it; image_size covers it all. */
export function makeIkconfigArm64Image(release: string, config: string | undefined): Buffer {
  const tail = Buffer.concat([
    filler(200_000, 3),
    config === undefined ? Buffer.alloc(0) : ikconfigBlock(config),
    filler(100_000, 4),
  ]);
  const head = makeArm64Image(release, { tail: 0 });
  const image = Buffer.concat([head, tail]);
  image.writeBigUInt64LE(BigInt(image.length), 16);
  return image;
}

/** What the kernel build's compressor writes: the stream, then (all but gzip) the size as LE32. */
export function compressPayload(bytes: Buffer, compression: PayloadCompression, withSize = true): Buffer {
  const [command, ...args] = COMPRESSORS[compression] as [string, ...string[]];
  const compressed = execFileSync(command, args, { input: bytes, maxBuffer: 64 << 20 });
  if (compression === 'gzip' || !withSize) return compressed;
  const size = Buffer.alloc(4);
  size.writeUInt32LE(bytes.length);
  return Buffer.concat([compressed, size]);
}

/** A bzImage (makeBzImage's setup header) whose payload is `payload`, with payload_length set. */
export function wrapBzImage(release: string, payload: Buffer): Buffer {
  const setup = makeBzImage(release);
  const payloadAt = (setup.readUInt8(0x1f1) + 1) * 512 + setup.readUInt32LE(0x248);
  const header = Buffer.from(setup.subarray(0, payloadAt));
  header.writeUInt32LE(payload.length, 0x24c);
  return Buffer.concat([header, payload]);
}

export type ZbootMachine = 'arm64' | 'riscv64';
const PE_MACHINES: Record<ZbootMachine, number> = { arm64: 0xaa64, riscv64: 0x5064 };

/**
 * An EFI zboot image (zboot-header.S): "MZ", "zimg" at 4, payload offset and size at 8 and 12, the
 * method name at 0x18, the PE header pointer at 0x3c, "PE\0\0" and the machine; the compressed
 * Image (without a size trailer: the header's size already excludes it) after a 512-byte stub.
 */
export function wrapZboot(
  compressed: Buffer,
  method: string,
  machine: ZbootMachine = 'arm64',
  declaredSize = compressed.length,
): Buffer {
  const stub = Buffer.alloc(512);
  stub.write('MZ', 0, 'latin1');
  stub.write('zimg', 4, 'latin1');
  stub.writeUInt32LE(stub.length, 8);
  stub.writeUInt32LE(declaredSize, 12);
  stub.write(`${method}\0`, 0x18, 'latin1');
  stub.writeUInt32LE(0x40, 0x3c);
  stub.write('PE\0\0', 0x40, 'latin1');
  stub.writeUInt16LE(PE_MACHINES[machine], 0x44);
  return Buffer.concat([stub, compressed]);
}

/** The zboot header's name for each method (Makefile.zboot's comp-type). */
export const ZBOOT_METHODS: Record<PayloadCompression, string> = {
  gzip: 'gzip',
  xz: 'xzkern',
  lz4: 'lz4',
  zstd: 'zstd22',
  lzma: 'lzma',
};

/** A zboot image of an arm64 Image compressed with `compression`. */
export function makeZboot(
  release: string,
  config: string | undefined,
  compression: PayloadCompression,
): Buffer {
  const payload = compressPayload(makeIkconfigArm64Image(release, config), compression);
  // The build appends the size as for a bzImage; the header's size leaves it out.
  const trailer = compression === 'gzip' ? 0 : 4;
  return wrapZboot(payload, ZBOOT_METHODS[compression], 'arm64', payload.length - trailer);
}
