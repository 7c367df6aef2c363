import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, describe, expect, it } from 'vitest';
import { KartError } from '../../../src/errors.ts';
import { inspectKernelImage } from '../../../src/kernel/image/index.ts';
import { debianKernelPaths } from '../../support/debian-kernels.ts';
import {
  makeArm64Image,
  makeArm64ImageGz,
  makeBzImage,
  makeVmlinuxElf,
  syntheticBanner,
  syntheticBzImageVersion,
  type SyntheticCompression,
} from '../../support/synthetic-kernels.ts';
import { compressPayload, makeIkconfigArm64Image, wrapZboot } from '../../support/ikconfig-kernels.ts';

const work = mkdtempSync(join(tmpdir(), 'kart-image-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));
let counter = 0;

/** Writes `bytes` to a fresh directory under a name that says nothing about the format. */
function place(bytes: Uint8Array, name = 'kernel'): string {
  const dir = join(work, String(counter++));
  mkdirSync(dir);
  const path = join(dir, name);
  writeFileSync(path, bytes);
  return path;
}

async function expectKartError(path: string, code: string, message: string | RegExp): Promise<void> {
  const before = readFileSync(path);
  const error = await inspectKernelImage(path).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(KartError);
  const kart = error as KartError;
  expect({ code: kart.code, exitCode: kart.exitCode }).toEqual({ code, exitCode: 2 });
  if (typeof message === 'string') expect(kart.message).toBe(message);
  else expect(kart.message).toMatch(message);
  // Inspection only reads: the input is intact and nothing appeared beside it.
  expect(readFileSync(path).equals(before)).toBe(true);
  expect(readdirSync(join(path, '..'))).toEqual([path.slice(path.lastIndexOf('/') + 1)]);
}

const RELEASE = '6.12.8-kart-zone';
const EXPECTED_FORMATS =
  'expected an x86 bzImage ("HdrS" at 0x202), an arm64 Image ("ARM\\x64" at 0x38), an arm64 Image.gz (gzip), an EFI zboot image ("zimg" at 4) or a vmlinux ELF';
const BANNER = syntheticBanner(RELEASE).trimEnd();

describe('inspectKernelImage on real Debian kernels', () => {
  for (const flavor of ['cloud-amd64', 'amd64'] as const) {
    it(`reads Debian's ${flavor} vmlinuz: x86_64, its release, its payload compression`, async () => {
      const kernel = debianKernelPaths(flavor);
      const info = await inspectKernelImage(kernel.vmlinuz);
      const configured = /^CONFIG_KERNEL_([A-Z0-9]+)=y$/m.exec(readFileSync(kernel.config, 'utf8'))?.[1];
      expect(info).toEqual({
        format: 'bzImage',
        arch: 'x86_64',
        release: kernel.release,
        banner: expect.stringMatching(
          new RegExp(
            `^${kernel.release.replaceAll('.', '\\.')} \\(debian-kernel@lists\\.debian\\.org\\) #1 SMP `,
          ),
        ),
        compression: configured?.toLowerCase(),
        bootProtocol: '2.15',
      });
      if (flavor === 'cloud-amd64') expect(info.release).toMatch(/^6\.1\.0-\d+-cloud-amd64$/);
    });
  }

  it('reports a real vmlinuz cut off before its version string as truncated', async () => {
    const path = place(readFileSync(debianKernelPaths('cloud-amd64').vmlinuz).subarray(0, 0x1000));
    const pointer = readFileSync(path).readUInt16LE(0x20e) + 0x200;
    expect(pointer).toBeGreaterThan(0x1000);
    await expectKartError(
      path,
      'IMAGE_TRUNCATED',
      `x86 bzImage ${path} is truncated: it ends before the end of its kernel_version string at 0x${pointer.toString(16)} (the pointer at 0x20e + 0x200)`,
    );
  });
});

describe('inspectKernelImage on x86 bzImages', () => {
  const compressions: SyntheticCompression[] = ['gzip', 'bzip2', 'lzma', 'xz', 'lzo', 'lz4', 'zstd'];
  for (const compression of compressions) {
    it(`names a ${compression} payload from its magic`, async () => {
      expect(await inspectKernelImage(place(makeBzImage(RELEASE, { compression }), 'Image.gz'))).toEqual({
        format: 'bzImage',
        arch: 'x86_64',
        release: RELEASE,
        banner: syntheticBzImageVersion(RELEASE),
        compression,
        bootProtocol: '2.15',
      });
    });
  }

  it('refuses a 32-bit bzImage', async () => {
    const path = place(makeBzImage(RELEASE, { is64bit: false }));
    await expectKartError(
      path,
      'IMAGE_ARCH_UNSUPPORTED',
      `x86 bzImage ${path} is a 32-bit x86 (xloadflags lacks XLF_KERNEL_64) kernel; kart handles 64-bit little-endian x86_64 and aarch64 kernels`,
    );
  });

  it('refuses a boot protocol too old to say 64-bit', async () => {
    const path = place(makeBzImage(RELEASE, { protocol: 0x020a }));
    await expectKartError(
      path,
      'IMAGE_ARCH_UNSUPPORTED',
      `x86 bzImage ${path} is a boot protocol 2.10 (too old to say 64-bit) kernel; kart handles 64-bit little-endian x86_64 and aarch64 kernels`,
    );
  });

  it('reports a bzImage cut inside its setup header as truncated', async () => {
    const path = place(makeBzImage(RELEASE).subarray(0, 0x230));
    await expectKartError(
      path,
      'IMAGE_TRUNCATED',
      `x86 bzImage ${path} is truncated: it ends before the end of its setup header at 0x24c`,
    );
  });

  it('refuses a bzImage whose version pointer leads to no release', async () => {
    const bytes = makeBzImage(RELEASE);
    bytes.write('(none)\0', 0x400, 'latin1');
    const path = place(bytes);
    await expectKartError(
      path,
      'IMAGE_NO_BANNER',
      `x86 bzImage ${path} holds no release at its kernel_version pointer (0x400): found "(none)", so its release is unknown`,
    );
  });
});

describe('inspectKernelImage on arm64 Images', () => {
  it('reads the release and banner of an arm64 Image named like a bzImage', async () => {
    expect(await inspectKernelImage(place(makeArm64Image(RELEASE), 'bzImage'))).toEqual({
      format: 'Image',
      arch: 'aarch64',
      release: RELEASE,
      banner: BANNER,
      compression: 'none',
    });
  });

  it('finds a banner megabytes in, and one split across read chunks', async () => {
    for (const bannerOffset of [3 << 20, (1 << 16) - 64 - 64 - 5]) {
      const info = await inspectKernelImage(place(makeArm64Image(RELEASE, { bannerOffset })));
      expect(info.banner).toBe(BANNER);
    }
  });

  it('reports an Image shorter than its header says, and without a banner, as truncated', async () => {
    const whole = makeArm64Image(RELEASE);
    const path = place(whole.subarray(0, 2048));
    await expectKartError(
      path,
      'IMAGE_TRUNCATED',
      `arm64 Image ${path} is truncated: it ends before the image_size its header declares (${whole.length} bytes, file has 2048)`,
    );
  });

  it('refuses a whole Image without a banner', async () => {
    const bytes = makeArm64Image(RELEASE);
    bytes.fill(0, 64);
    const path = place(bytes);
    await expectKartError(
      path,
      'IMAGE_NO_BANNER',
      `arm64 Image ${path} holds no "Linux version <release> ..." banner, so its release is unknown`,
    );
  });

  it('refuses a big-endian arm64 Image', async () => {
    const path = place(makeArm64Image(RELEASE, { bigEndian: true }));
    await expectKartError(
      path,
      'IMAGE_ARCH_UNSUPPORTED',
      `arm64 Image ${path} is a big-endian arm64 kernel; kart handles 64-bit little-endian x86_64 and aarch64 kernels`,
    );
  });
});

describe('inspectKernelImage on arm64 Image.gz', () => {
  it('reads the release and banner through gzip', async () => {
    expect(await inspectKernelImage(place(makeArm64ImageGz(RELEASE), 'vmlinux'))).toEqual({
      format: 'Image.gz',
      arch: 'aarch64',
      release: RELEASE,
      banner: BANNER,
      compression: 'gzip',
    });
  });

  it('inflates only up to the banner: a stream cut off well after it still reads', async () => {
    const gz = makeArm64ImageGz(RELEASE, { tail: 8 << 20 });
    const info = await inspectKernelImage(place(gz.subarray(0, gz.length >> 1)));
    expect(info.release).toBe(RELEASE);
  });

  it('reports a stream cut off before the banner as truncated', async () => {
    const gz = makeArm64ImageGz(RELEASE, { bannerOffset: 1 << 20 });
    const path = place(gz.subarray(0, 40));
    await expectKartError(
      path,
      'IMAGE_TRUNCATED',
      new RegExp(
        `^arm64 Image\\.gz ${path} is truncated: it ends before the end of its gzip stream \\(inflated \\d+ bytes, no banner yet\\)$`,
      ),
    );
  });

  it('reports gzip data too short for the Image header as truncated', async () => {
    const path = place(gzipSync(Buffer.from('hello')));
    await expectKartError(
      path,
      'IMAGE_TRUNCATED',
      `arm64 Image.gz ${path} is truncated: it ends before the 64-byte arm64 Image header (inflates to 5 bytes)`,
    );
  });

  it('refuses gzip data that is not an arm64 Image', async () => {
    const path = place(gzipSync(makeBzImage(RELEASE)));
    await expectKartError(
      path,
      'IMAGE_UNKNOWN',
      `${path} is not a kernel image kart recognizes (gzip data whose inflated bytes have no "ARM\\x64" at 0x38, so not an arm64 Image.gz); expected an x86 bzImage ("HdrS" at 0x202), an arm64 Image ("ARM\\x64" at 0x38), an arm64 Image.gz (gzip), an EFI zboot image ("zimg" at 4) or a vmlinux ELF`,
    );
  });

  it('reports corrupt deflate data', async () => {
    const gz = makeArm64ImageGz(RELEASE);
    gz.fill(0xff, 10, 30);
    const path = place(gz);
    await expectKartError(
      path,
      'IMAGE_CORRUPT',
      new RegExp(`^arm64 Image\\.gz ${path} is corrupt: gzip data error after \\d+ inflated bytes \\(.+\\)$`),
    );
  });
});

describe('inspectKernelImage on vmlinux ELF files', () => {
  for (const machine of ['x86_64', 'aarch64'] as const) {
    it(`reads a 64-bit ${machine} vmlinux`, async () => {
      expect(await inspectKernelImage(place(makeVmlinuxElf({ release: RELEASE, machine })))).toEqual({
        format: 'vmlinux',
        arch: machine,
        release: RELEASE,
        banner: BANNER,
        compression: 'none',
      });
    });
  }

  const refused: Array<[Parameters<typeof makeVmlinuxElf>[0], string]> = [
    [{ release: RELEASE, bits: 32, machine: 'i386' }, 'a 32-bit ELF for i386 kernel'],
    [{ release: RELEASE, bits: 32, machine: 'x86_64' }, 'a 32-bit ELF for x86_64 kernel'],
    [{ release: RELEASE, bits: 32, machine: 'arm' }, 'a 32-bit ELF for arm kernel'],
    [{ release: RELEASE, bits: 64, machine: 'aarch64', bigEndian: true }, 'a big-endian 64-bit ELF kernel'],
  ];
  for (const [options, what] of refused) {
    it(`refuses ${what}`, async () => {
      const path = place(makeVmlinuxElf(options));
      await expectKartError(
        path,
        'IMAGE_ARCH_UNSUPPORTED',
        `vmlinux ELF ${path} is ${what}; kart handles 64-bit little-endian x86_64 and aarch64 kernels`,
      );
    });
  }

  it('reports an ELF header cut short as truncated', async () => {
    const path = place(makeVmlinuxElf({ release: RELEASE }).subarray(0, 40));
    await expectKartError(
      path,
      'IMAGE_TRUNCATED',
      `vmlinux ELF ${path} is truncated: it ends before the end of its 64-byte ELF header`,
    );
  });

  it('reports section headers past the end of the file as truncated', async () => {
    const bytes = makeVmlinuxElf({ release: RELEASE });
    bytes.writeBigUInt64LE(4096n, 0x28);
    bytes.writeUInt16LE(64, 0x3a);
    bytes.writeUInt16LE(40, 0x3c);
    const path = place(bytes);
    await expectKartError(
      path,
      'IMAGE_TRUNCATED',
      `vmlinux ELF ${path} is truncated: it ends before its section header table (ends at ${4096 + 64 * 40}, file has ${bytes.length} bytes)`,
    );
  });

  it('refuses a vmlinux without a banner', async () => {
    const bytes = makeVmlinuxElf({ release: RELEASE });
    bytes.fill(0, 64);
    const path = place(bytes);
    await expectKartError(
      path,
      'IMAGE_NO_BANNER',
      `vmlinux ELF ${path} holds no "Linux version <release> ..." banner, so its release is unknown`,
    );
  });
});

describe('inspectKernelImage on what is not a kernel', () => {
  const EXPECTED = EXPECTED_FORMATS;

  it('refuses an empty file', async () => {
    const path = place(Buffer.alloc(0));
    await expectKartError(path, 'IMAGE_EMPTY', `kernel image ${path} is empty; ${EXPECTED}`);
  });

  it('refuses a file it does not recognize, saying what it found', async () => {
    const bytes = Buffer.alloc(0x300, 0x20);
    bytes.write('#!/bin/sh', 0, 'latin1');
    const path = place(bytes, 'bzImage');
    await expectKartError(
      path,
      'IMAGE_UNKNOWN',
      `${path} is not a kernel image kart recognizes (it starts with 23 21 2f 62 69 6e 2f 73, "    " at 0x202); ${EXPECTED}`,
    );
  });

  it('reports a short file that starts like a kernel ("MZ") as truncated', async () => {
    const path = place(makeBzImage(RELEASE).subarray(0, 100));
    await expectKartError(
      path,
      'IMAGE_TRUNCATED',
      `kernel image ${path} is truncated: it ends before the magic at 0x38 (arm64 Image) or 0x202 (x86 bzImage): it starts with "MZ" but has only 100 bytes`,
    );
  });

  it('names a missing file and a directory', async () => {
    const missing = join(work, 'no-such-kernel');
    await expect(inspectKernelImage(missing)).rejects.toMatchObject({
      code: 'IMAGE_NOT_FOUND',
      exitCode: 2,
      message: `kernel image ${missing} does not exist`,
    });
    await expect(inspectKernelImage(work)).rejects.toMatchObject({
      code: 'IMAGE_UNREADABLE',
      exitCode: 2,
      message: `cannot read kernel image ${work}: EISDIR`,
    });
  });
});

describe('inspectKernelImage on EFI zboot images (vmlinuz.efi)', () => {
  // Every method's inner Image (gzip, zstd, xz, lz4, lzma) is read in embedded-config.test.ts.
  it('decompresses no further than the banner', async () => {
    // A valid gzip start (the Image with its banner), then garbage where the rest would be.
    const image = makeIkconfigArm64Image(RELEASE, undefined);
    const whole = compressPayload(image, 'gzip');
    const cut = Buffer.concat([whole.subarray(0, Math.floor(whole.length / 2)), Buffer.alloc(100_000, 0xee)]);
    expect(image.indexOf('Linux version')).toBeLessThan(8192);
    expect((await inspectKernelImage(place(wrapZboot(cut, 'gzip')))).release).toBe(RELEASE);
  });

  it('refuses a riscv64 zboot image, naming the arch, before decompressing anything', async () => {
    const path = place(wrapZboot(Buffer.alloc(64, 0xee), 'gzip', 'riscv64'));
    await expectKartError(
      path,
      'IMAGE_ARCH_UNSUPPORTED',
      `EFI zboot ${path} is a riscv64 kernel; kart handles 64-bit little-endian x86_64 and aarch64 kernels`,
    );
  });

  it('refuses a method kart does not decompress, a payload past the end, and a header cut short', async () => {
    const lzo = place(wrapZboot(Buffer.alloc(64), 'lzo'));
    await expectKartError(
      lzo,
      'IMAGE_COMPRESSION_UNSUPPORTED',
      `EFI zboot ${lzo} holds an Image compressed with "lzo", which kart does not decompress`,
    );
    const short = place(wrapZboot(Buffer.alloc(64), 'gzip', 'arm64', 1000));
    await expectKartError(
      short,
      'IMAGE_TRUNCATED',
      `EFI zboot ${short} is truncated: it ends before the end of its gzip payload at 1512 (the file has 576 bytes)`,
    );
    const header = place(wrapZboot(Buffer.alloc(0), 'gzip').subarray(0, 0x30));
    await expectKartError(
      header,
      'IMAGE_TRUNCATED',
      `EFI zboot ${header} is truncated: it ends before the end of its zboot header at 0x40`,
    );
  });

  it('refuses a zboot payload that is not an arm64 Image', async () => {
    const path = place(wrapZboot(compressPayload(Buffer.alloc(4096, 1), 'gzip'), 'gzip'));
    await expectKartError(
      path,
      'IMAGE_UNKNOWN',
      `${path} is not a kernel image kart recognizes (an EFI zboot image whose decompressed payload has no "ARM\\x64" at 0x38, so no arm64 Image); ${EXPECTED_FORMATS}`,
    );
  });
});
