import { createGunzip } from 'node:zlib';
import { imageCorrupt, imageNoBanner, imageTruncated, imageUnknown } from './image-errors.ts';
import { scanInnerArm64Image } from './inner-arm64-image.ts';
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

  let inflated = 0;
  const counted = (async function* () {
    for await (const chunk of gunzip as AsyncIterable<Buffer>) {
      inflated += chunk.length;
      yield chunk;
    }
  })();
  let scan;
  try {
    scan = await scanInnerArm64Image(counted, file.path, FORMAT, () =>
      imageUnknown(
        file.path,
        `gzip data whose inflated bytes have no "ARM\\x64" at 0x38, so not an arm64 Image.gz`,
      ),
    );
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
  if (scan.banner) {
    return {
      format: 'Image.gz',
      arch: 'aarch64',
      release: scan.banner.release,
      banner: scan.banner.line,
      compression: 'gzip',
    };
  }
  if (!scan.headerSeen) {
    throw imageTruncated(file.path, FORMAT, `the 64-byte arm64 Image header (inflates to ${inflated} bytes)`);
  }
  if (scan.imageSize > BigInt(inflated)) {
    throw imageTruncated(
      file.path,
      FORMAT,
      `the image_size its header declares (${scan.imageSize} bytes, inflates to ${inflated})`,
    );
  }
  throw imageNoBanner(file.path, FORMAT, 'no "Linux version <release> ..." banner');
}
