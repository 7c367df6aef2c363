import type { KernelBanner } from './banner-scanner.ts';
import { BuildBannerScanner } from './build-banner.ts';

/**
 * Runs a BuildBannerScanner over a stream and stops reading as soon as the banner is settled
 * (leaving the loop early destroys the stream, so the rest is never read or inflated).
 */
export async function findBanner(chunks: AsyncIterable<Uint8Array>): Promise<KernelBanner | undefined> {
  const scanner = new BuildBannerScanner();
  for await (const chunk of chunks) {
    scanner.push(chunk);
    if (scanner.settled) break;
  }
  return scanner.banner;
}
