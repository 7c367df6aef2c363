import { ARM64_HEADER_BYTES, checkArm64Header, isArm64Image } from './arm64-image.ts';
import type { KernelBanner } from './banner-scanner.ts';
import { BuildBannerScanner } from './build-banner.ts';

/**
 * An arm64 Image read from its decompressed bytes (an Image.gz, or the payload of an EFI zboot
 * image): the 64-byte header first, then the banner. Stops reading as soon as the banner is complete.
 */
export interface InnerImageScan {
  banner: KernelBanner | undefined;
  /** bytes decompressed before the scan stopped */
  inflated: number;
  /** the header was complete */
  headerSeen: boolean;
  /** the image_size the header declares (0 when unknown) */
  imageSize: bigint;
}

/**
 * `notArm64(head)` builds the error for a header without the arm64 magic (the caller knows what the
 * container was); `path` and `format` name the file in checkArm64Header's errors.
 */
export async function scanInnerArm64Image(
  chunks: AsyncIterable<Buffer>,
  path: string,
  format: string,
  notArm64: (head: Buffer) => Error,
): Promise<InnerImageScan> {
  const scanner = new BuildBannerScanner();
  let head = Buffer.alloc(0);
  let imageSize = 0n;
  let inflated = 0;
  for await (const chunk of chunks) {
    inflated += chunk.length;
    if (head.length < ARM64_HEADER_BYTES) {
      head = Buffer.concat([head, chunk.subarray(0, ARM64_HEADER_BYTES - head.length)]);
      if (head.length === ARM64_HEADER_BYTES) {
        if (!isArm64Image(head)) throw notArm64(head);
        imageSize = checkArm64Header(path, format, head);
      }
    }
    scanner.push(chunk);
    if (scanner.settled) return { banner: scanner.banner, inflated, headerSeen: true, imageSize };
  }
  return { banner: scanner.banner, inflated, headerSeen: head.length === ARM64_HEADER_BYTES, imageSize };
}
