import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { BannerScanner, MAX_BANNER_BYTES } from '../../../src/kernel/image/index.ts';

const BANNER =
  'Linux version 6.1.0-56-cloud-amd64 (debian-kernel@lists.debian.org) (gcc-12 (Debian 12.2.0-14)) #1 SMP';

function scanInChunks(data: Buffer, cuts: number[]): ReturnType<BannerScanner['push']> {
  const scanner = new BannerScanner();
  let from = 0;
  for (const cut of [...cuts.filter((c) => c > 0 && c < data.length)]
    .sort((a, b) => a - b)
    .concat(data.length)) {
    const found = scanner.push(data.subarray(from, cut));
    if (found) return found;
    from = cut;
  }
  return undefined;
}

describe('BannerScanner', () => {
  it('finds the banner wherever the stream is cut into chunks, even one byte at a time', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ maxLength: 300 }).map((b) => Buffer.from(b.map((x) => (x === 0x4c ? 0 : x)))), // no "L"
        fc.array(fc.nat({ max: 600 }), { maxLength: 20 }),
        (prefix, cuts) => {
          const data = Buffer.concat([prefix, Buffer.from(`${BANNER}\n\0tail`, 'latin1')]);
          expect(scanInChunks(data, cuts)).toEqual({ line: BANNER, release: '6.1.0-56-cloud-amd64' });
        },
      ),
    );
    const data = Buffer.from(`xx${BANNER}\n`, 'latin1');
    expect(scanInChunks(data, [...data.keys()])?.release).toBe('6.1.0-56-cloud-amd64');
  });

  it('skips format strings and lines that are not a banner, then finds the real one', () => {
    const data = Buffer.from(
      `Linux version %s (%s)\n\0Linux version 1.0\x01binary\0Linux version ${'9'.repeat(MAX_BANNER_BYTES)}\n${BANNER}\0`,
      'latin1',
    );
    expect(scanInChunks(data, [7, 100, 1200])).toEqual({ line: BANNER, release: '6.1.0-56-cloud-amd64' });
  });

  it('finds nothing in a stream without a banner, and nothing in one that ends mid-banner', () => {
    expect(scanInChunks(Buffer.from('no kernel here'), [])).toBeUndefined();
    expect(scanInChunks(Buffer.from(BANNER, 'latin1'), [20])).toBeUndefined();
  });
});
