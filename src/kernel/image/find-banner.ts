import { BannerScanner, type KernelBanner } from './banner-scanner.ts';

/**
 * Runs a BannerScanner over a stream and stops reading as soon as the banner is complete
 * (leaving the loop early destroys the stream, so the rest is never read or inflated).
 */
export async function findBanner(chunks: AsyncIterable<Uint8Array>): Promise<KernelBanner | undefined> {
  const scanner = new BannerScanner();
  for await (const chunk of chunks) {
    const banner = scanner.push(chunk);
    if (banner) return banner;
  }
  return undefined;
}
