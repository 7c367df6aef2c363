/**
 * Finds the kernel's `Linux version <release> ...` banner in a byte stream fed chunk by chunk,
 * holding at most one banner's worth of bytes between chunks: arm64 Images and vmlinux files keep
 * the banner tens of megabytes in, and they must never be read whole into memory.
 */
const NEEDLE = Buffer.from('Linux version ', 'latin1');
/** Longest banner line accepted; the real ones are 100-250 bytes. */
export const MAX_BANNER_BYTES = 1024;

export interface KernelBanner {
  /** the banner line, without its newline */
  line: string;
  /** `uname -r`: the word after "Linux version " */
  release: string;
}

function isDigit(byte: number | undefined): boolean {
  return byte !== undefined && byte >= 0x30 && byte <= 0x39;
}

function isPrintable(byte: number): boolean {
  return byte >= 0x20 && byte < 0x7f;
}

export class BannerScanner {
  #carry: Buffer = Buffer.alloc(0);
  #found: KernelBanner | undefined;

  get found(): KernelBanner | undefined {
    return this.#found;
  }

  /** Feeds the next chunk; returns the banner once it is complete (and on every later call). */
  push(chunk: Uint8Array): KernelBanner | undefined {
    if (this.#found) return this.#found;
    const buffer = this.#carry.length > 0 ? Buffer.concat([this.#carry, chunk]) : Buffer.from(chunk);
    let from = 0;
    for (;;) {
      const at = buffer.indexOf(NEEDLE, from);
      if (at < 0) {
        // Keep just enough to catch a needle split across this chunk and the next.
        this.#carry = Buffer.from(buffer.subarray(Math.max(from, buffer.length - (NEEDLE.length - 1))));
        return undefined;
      }
      const lineEnd = this.#endOfLine(buffer, at);
      if (lineEnd === 'need-more') {
        this.#carry = Buffer.from(buffer.subarray(at));
        return undefined;
      }
      if (lineEnd !== 'not-a-banner') {
        const line = buffer.toString('latin1', at, lineEnd);
        const release = line.slice(NEEDLE.length).split(' ', 1)[0] ?? '';
        this.#found = { line, release };
        this.#carry = Buffer.alloc(0);
        return this.#found;
      }
      from = at + 1;
    }
  }

  /**
   * Where the banner starting at `at` ends (its newline or NUL), or why it cannot be one: the release
   * must start with a digit and the line be printable ASCII no longer than MAX_BANNER_BYTES. Format
   * strings such as "Linux version %s" are thereby skipped.
   */
  #endOfLine(buffer: Buffer, at: number): number | 'need-more' | 'not-a-banner' {
    const releaseAt = at + NEEDLE.length;
    if (releaseAt >= buffer.length) return 'need-more';
    if (!isDigit(buffer[releaseAt])) return 'not-a-banner';
    const limit = Math.min(buffer.length, at + MAX_BANNER_BYTES);
    for (let i = releaseAt; i < limit; i++) {
      const byte = buffer[i] as number;
      if (byte === 0x0a || byte === 0x00) return i;
      if (!isPrintable(byte)) return 'not-a-banner';
    }
    return limit === buffer.length && buffer.length < at + MAX_BANNER_BYTES ? 'need-more' : 'not-a-banner';
  }
}
