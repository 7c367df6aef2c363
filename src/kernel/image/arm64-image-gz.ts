import { createGunzip } from 'node:zlib';
import { ARM64_HEADER_BYTES, checkArm64Header, isArm64Image } from './arm64-image.ts';
import { BannerScanner } from './banner-scanner.ts';
import { imageCorrupt, imageNoBanner, imageTruncated, imageUnknown } from './image-errors.ts';
import type { KernelFile } from './kernel-file.ts';
import type { KernelImageInfo } from './types.ts';

const FORMAT = 'arm64 Image.gz';

/**
 * Inflates the file as a stream only as far as the banner (the Image header is its first 64 bytes),
 * then stops: the rest is neither read nor inflated.
 */
export async function readArm64ImageGz(file: KernelFile): Promise<KernelImageInfo> {
  const source = file.stream(0);
  const gunzip = createGunzip();
  source.on('error', (error) => gunzip.destroy(error));
  source.pipe(gunzip);

  const scanner = new BannerScanner();
  let head = Buffer.alloc(0);
  let imageSize = 0n;
  let inflated = 0;
  try {
    for await (const chunk of gunzip as AsyncIterable<Buffer>) {
      inflated += chunk.length;
      if (head.length < ARM64_HEADER_BYTES) {
        head = Buffer.concat([head, chunk.subarray(0, ARM64_HEADER_BYTES - head.length)]);
        if (head.length === ARM64_HEADER_BYTES) {
          if (!isArm64Image(head)) {
            throw imageUnknown(
              file.path,
              `gzip data whose inflated bytes have no "ARM\\x64" at 0x38, so not an arm64 Image.gz`,
            );
          }
          imageSize = checkArm64Header(file.path, FORMAT, head);
        }
      }
      const banner = scanner.push(chunk);
      if (banner) {
        return {
          format: 'Image.gz',
          arch: 'aarch64',
          release: banner.release,
          banner: banner.line,
          compression: 'gzip',
        };
      }
    }
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'Z_BUF_ERROR') {
      throw imageTruncated(
        file.path,
        FORMAT,
        `the end of its gzip stream (inflated ${inflated} bytes, no banner yet)`,
      );
    }
    if (code === 'Z_DATA_ERROR') {
      throw imageCorrupt(
        file.path,
        FORMAT,
        `gzip data error after ${inflated} inflated bytes (${(error as Error).message})`,
      );
    }
    throw error;
  } finally {
    source.destroy();
    gunzip.destroy();
  }
  if (head.length < ARM64_HEADER_BYTES) {
    throw imageTruncated(file.path, FORMAT, `the 64-byte arm64 Image header (inflates to ${inflated} bytes)`);
  }
  if (imageSize > BigInt(inflated)) {
    throw imageTruncated(
      file.path,
      FORMAT,
      `the image_size its header declares (${imageSize} bytes, inflates to ${inflated})`,
    );
  }
  throw imageNoBanner(file.path, FORMAT, 'no "Linux version <release> ..." banner');
}
