import { BannerScanner, type KernelBanner } from './banner-scanner.ts';

/**
 * Linux 6.1+ carries two banners in a decompressed kernel: a weak default in init/version.c whose
 * UTS_VERSION has no build number ("... # SMP ...") and the real one from init/version-timestamp.c
 * ("... #1 SMP ..."), about a megabyte later. This scanner prefers the one with a build number and
 * settles for the first when none follows within LOOK_AHEAD bytes.
 */
const LOOK_AHEAD = 8 << 20;

function hasBuildNumber(banner: KernelBanner): boolean {
  return /\) #\d/.test(banner.line);
}

export class BuildBannerScanner {
  #scanner = new BannerScanner();
  #first: KernelBanner | undefined;
  #best: KernelBanner | undefined;
  #after = 0;

  /** the banner to report so far */
  get banner(): KernelBanner | undefined {
    return this.#best ?? this.#first;
  }

  /** no later bytes can change `banner` */
  get settled(): boolean {
    return this.#best !== undefined || (this.#first !== undefined && this.#after > LOOK_AHEAD);
  }

  push(chunk: Uint8Array): void {
    if (this.settled) return;
    if (this.#first !== undefined) this.#after += chunk.length;
    const found = this.#scanner.push(chunk);
    if (found === undefined) return;
    if (hasBuildNumber(found)) {
      this.#best = found;
    } else {
      this.#first ??= found;
      this.#scanner = new BannerScanner();
      // The real banner may follow in this same chunk (lz4 blocks are 8 MiB): scan on after this one.
      const bytes = Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
      const at = bytes.indexOf(found.line, 0, 'latin1');
      if (at >= 0) this.push(bytes.subarray(at + found.line.length));
    }
  }
}
