import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, describe, expect, it } from 'vitest';
import { KartError } from '../../../src/errors.ts';
import { inspectKernelImage, readEmbeddedConfig } from '../../../src/kernel/image/index.ts';
import { withKernelImage } from '../../../src/kernel/image/inspect-kernel-image.ts';
import { kernelPayload } from '../../../src/kernel/image/kernel-payload.ts';
import { debianKernelPaths } from '../../support/debian-kernels.ts';
import {
  compressPayload,
  makeIkconfigArm64Image,
  makeIkconfigVmlinux,
  makeZboot,
  wrapBzImage,
  type PayloadCompression,
} from '../../support/ikconfig-kernels.ts';
import { syntheticBanner } from '../../support/synthetic-kernels.ts';

const work = mkdtempSync(join(tmpdir(), 'kart-ikconfig-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));
let counter = 0;
function place(bytes: Uint8Array): string {
  const dir = join(work, String(counter++));
  mkdirSync(dir);
  const path = join(dir, 'vmlinuz');
  writeFileSync(path, bytes);
  return path;
}

const RELEASE = '6.12.8-kart-zone';
const BANNER = syntheticBanner(RELEASE).trimEnd();
// A config bigger than one gzip window, so the member spans several decompressed chunks.
const CONFIG =
  '#\n# Automatically generated file; DO NOT EDIT.\n#\n' +
  Array.from(
    { length: 4000 },
    (_, i) => `CONFIG_KART_SYMBOL_${i}=${i % 3 === 0 ? 'y' : i % 3 === 1 ? 'm' : `"${i}"`}\n`,
  ).join('') +
  '# CONFIG_IKCONFIG_PROC is not set\nCONFIG_IKCONFIG=y\n';
const CONFIG_DIGEST = `sha256:${createHash('sha256').update(CONFIG).digest('hex')}`;

async function expectError(promise: Promise<unknown>, code: string, message: RegExp): Promise<KartError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(KartError);
  expect({ code: (error as KartError).code, exitCode: (error as KartError).exitCode }).toEqual({
    code,
    exitCode: 2,
  });
  expect((error as KartError).message).toMatch(message);
  return error as KartError;
}

const COMPRESSIONS: PayloadCompression[] = ['gzip', 'xz', 'lz4', 'zstd', 'lzma'];

describe('readEmbeddedConfig: IKCFG_ST + config_data.gz + IKCFG_ED inside the kernel', () => {
  for (const compression of COMPRESSIONS) {
    it(`finds it in a bzImage whose payload is ${compression} (as the kernel build compresses it)`, async () => {
      const path = place(
        wrapBzImage(RELEASE, compressPayload(makeIkconfigVmlinux(RELEASE, CONFIG), compression)),
      );
      const found = await readEmbeddedConfig(path);
      expect(found.bytes.toString('utf8')).toBe(CONFIG);
      expect(found.digest).toBe(CONFIG_DIGEST);
      expect(found.image).toMatchObject({
        format: 'bzImage',
        arch: 'x86_64',
        release: RELEASE,
        compression,
        banner: BANNER,
      });
      // inspect reads the full banner out of the payload too
      expect((await inspectKernelImage(path, { payloadBanner: true })).banner).toBe(BANNER);
    });

    it(`finds it in an EFI zboot image whose payload is ${compression}`, async () => {
      const path = place(makeZboot(RELEASE, CONFIG, compression));
      const found = await readEmbeddedConfig(path);
      expect(found.bytes.toString('utf8')).toBe(CONFIG);
      expect(found.image).toEqual({
        format: 'zboot',
        arch: 'aarch64',
        release: RELEASE,
        banner: BANNER,
        compression,
      });
    });
  }

  it('finds it in an arm64 Image.gz, a raw arm64 Image and a vmlinux ELF', async () => {
    const image = makeIkconfigArm64Image(RELEASE, CONFIG);
    for (const [bytes, format] of [
      [gzipSync(image, { level: 9 }), 'Image.gz'],
      [image, 'Image'],
      [makeIkconfigVmlinux(RELEASE, CONFIG), 'vmlinux'],
    ] as const) {
      const found = await readEmbeddedConfig(place(bytes));
      expect({
        config: found.bytes.toString('utf8'),
        digest: found.digest,
        format: found.image.format,
      }).toEqual({
        config: CONFIG,
        digest: CONFIG_DIGEST,
        format,
      });
    }
  });

  it('says a kernel has no embedded config (exit 2) and what to pass instead', async () => {
    const path = place(
      wrapBzImage(RELEASE, compressPayload(makeIkconfigVmlinux(RELEASE, undefined), 'zstd')),
    );
    const error = await expectError(
      readEmbeddedConfig(path),
      'IMAGE_NO_IKCONFIG',
      new RegExp(
        `^x86 bzImage ${path} \\(${BANNER.replace(/[()]/g, '\\$&')}\\) has no embedded config: no IKCFG_ST marker in its zstd payload; it was built without CONFIG_IKCONFIG$`,
      ),
    );
    expect(error.hint).toBe(
      "pass the kernel's .config instead: the build's .config, /boot/config-<release> beside the image, or /proc/config.gz on the running kernel",
    );
  });

  it('refuses a config that starts and never ends, and a payload cut short', async () => {
    const open = makeIkconfigVmlinux(RELEASE, CONFIG);
    const cut = open.subarray(0, open.indexOf('IKCFG_ED'));
    await expectError(
      readEmbeddedConfig(place(wrapBzImage(RELEASE, compressPayload(cut, 'gzip')))),
      'IMAGE_CORRUPT',
      /its embedded config starts \(IKCFG_ST\) but never ends \(IKCFG_ED\)$/,
    );
    const payload = compressPayload(makeIkconfigVmlinux(RELEASE, CONFIG), 'xz');
    const truncated = wrapBzImage(RELEASE, payload).subarray(0, 3000 + 2000);
    await expectError(
      readEmbeddedConfig(place(truncated)),
      'IMAGE_TRUNCATED',
      /is truncated: it ends before the end of its xz payload at \d+ \(the file has 5000 bytes\)$/,
    );
    // The header is intact but the xz stream inside is damaged halfway.
    const damaged = Buffer.from(wrapBzImage(RELEASE, payload));
    damaged.fill(0x55, damaged.length - Math.floor(payload.length / 2), damaged.length - 8);
    await expectError(
      readEmbeddedConfig(place(damaged)),
      'IMAGE_CORRUPT',
      /its xz payload does not decompress after \d+ bytes/,
    );
  });
});

describe('readEmbeddedConfig stops at IKCFG_ED', () => {
  it('never decompresses what follows the config: damage there goes unseen', async () => {
    const kernel = Buffer.concat([makeIkconfigVmlinux(RELEASE, CONFIG), Buffer.alloc(4 << 20, 0x5a)]);
    const payload = Buffer.from(compressPayload(kernel, 'zstd'));
    // The 4 MiB tail compresses to a few hundred bytes; its last blocks (and the checksum) are damaged.
    payload.fill(0xee, payload.length - 44, payload.length - 4);
    const path = place(wrapBzImage(RELEASE, payload));
    expect((await readEmbeddedConfig(path)).bytes.toString('utf8')).toBe(CONFIG);
    await expectError(
      readEmbeddedConfig(
        place(wrapBzImage(RELEASE, Buffer.from(payload).fill(0xee, 300, payload.length - 4))),
      ),
      'IMAGE_CORRUPT',
      /its zstd payload does not decompress after \d+ bytes/,
    );
  });
});

describe("Debian's real kernels (no IKCONFIG): xz and lz4 payloads", () => {
  const bannerOf = (release: string): RegExp =>
    // The real banner (init/version-timestamp.c, with the build number), not the weak default before it.
    new RegExp(
      `^Linux version ${release.replaceAll('.', '\\.')} \\(debian-kernel@lists\\.debian\\.org\\) \\(gcc-12 .*\\) #1 SMP PREEMPT_DYNAMIC Debian `,
    );

  it("cloud-amd64: kart's lz4 legacy decoder gives the ELF `lz4 -d -l` gives, byte for byte", async () => {
    const kernel = debianKernelPaths('cloud-amd64');
    const file = readFileSync(kernel.vmlinuz);
    const at = (file.readUInt8(0x1f1) + 1) * 512 + file.readUInt32LE(0x248);
    const length = file.readUInt32LE(0x24c);
    const elf = execFileSync('lz4', ['-dc', '-l'], {
      input: file.subarray(at, at + length - 4),
      maxBuffer: 128 << 20,
    });
    expect(elf.length).toBe(file.readUInt32LE(at + length - 4));
    const hash = createHash('sha256');
    let bytes = 0;
    await withKernelImage(kernel.vmlinuz, async (handle, head, info) => {
      for await (const chunk of kernelPayload(handle, head, info)) {
        hash.update(chunk);
        bytes += chunk.length;
      }
    });
    expect({ bytes, digest: hash.digest('hex') }).toEqual({
      bytes: elf.length,
      digest: createHash('sha256').update(elf).digest('hex'),
    });
    const info = await inspectKernelImage(kernel.vmlinuz, { payloadBanner: true });
    expect(info.banner).toMatch(bannerOf(kernel.release));
    expect(elf.includes(`${info.banner}\n`)).toBe(true);
  });

  it('amd64 (xz, x86 BCJ): no embedded config, and the error names the banner read from the payload', async () => {
    const kernel = debianKernelPaths('amd64');
    const error = await expectError(
      readEmbeddedConfig(kernel.vmlinuz),
      'IMAGE_NO_IKCONFIG',
      /no IKCFG_ST marker in its xz payload; it was built without CONFIG_IKCONFIG$/,
    );
    expect(error.details?.banner).toMatch(bannerOf(kernel.release));
    expect(error.message).toContain(`(${String(error.details?.banner)})`);
  });
});
