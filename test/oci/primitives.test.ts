/** The small primitives every room shares: bounded read, file digest, backoff. */
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { backoffDelay } from '../../src/oci/backoff.ts';
import { readBounded } from '../../src/oci/bounded-read.ts';
import { digestBytes, sha256Digest } from '../../src/oci/digest.ts';
import { digestFile, fileHolds } from '../../src/oci/file-digest.ts';

const dirs: string[] = [];
afterEach(async () => {
  await Promise.all(dirs.splice(0).map((d) => rm(d, { recursive: true, force: true })));
});

describe('readBounded', () => {
  it('returns every byte of a stream within the cap', async () => {
    const bytes = await readBounded(
      Readable.from([Buffer.from('ab'), Buffer.from('cd')]),
      4,
      () => new Error('x'),
    );
    expect(bytes.toString()).toBe('abcd');
  });

  it('throws the caller’s error and destroys the stream one byte past the cap', async () => {
    const stream = Readable.from([Buffer.from('ab'), Buffer.from('cde')]);
    const sizes: number[] = [];
    await expect(
      readBounded(stream, 4, (size) => {
        sizes.push(size);
        return new Error('too large');
      }),
    ).rejects.toThrow('too large');
    expect(sizes).toEqual([5]);
    expect(stream.destroyed).toBe(true);
  });
});

describe('digestFile / fileHolds', () => {
  it('hashes a file and tells whether it holds a descriptor’s content', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'kart-primitives-'));
    dirs.push(dir);
    const path = join(dir, 'blob');
    await writeFile(path, 'kernel');
    expect(await digestFile(path)).toEqual({ digest: sha256Digest('kernel'), size: 6 });
    expect(await fileHolds(path, { digest: sha256Digest('kernel'), size: 6 })).toBe(true);
    expect(await fileHolds(path, { digest: sha256Digest('kernel'), size: 7 })).toBe(false);
    expect(await fileHolds(path, { digest: sha256Digest('other'), size: 6 })).toBe(false);
    expect(await fileHolds(join(dir, 'missing'), { digest: sha256Digest('kernel'), size: 6 })).toBe(false);
  });

  it('hashes a file of several read buffers, the last one partly filled, the same as in memory', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'kart-primitives-'));
    dirs.push(dir);
    const path = join(dir, 'large');
    const bytes = randomBytes(2 * 1024 * 1024 + 12_345);
    await writeFile(path, bytes);
    expect(await digestFile(path)).toEqual({ digest: sha256Digest(bytes), size: bytes.length });
    expect(await digestFile(path, 'sha512')).toEqual({
      digest: digestBytes(bytes, 'sha512'),
      size: bytes.length,
    });
  });
});

describe('backoffDelay', () => {
  it('doubles from the first step up to the cap, jittered by the given fraction', () => {
    const steps = [0, 1, 2, 3, 4, 5].map((attempt) => backoffDelay({ firstMs: 5, maxMs: 100 }, attempt));
    expect(steps).toEqual([5, 10, 20, 40, 80, 100]);
    expect(backoffDelay({ firstMs: 250, maxMs: 8000, jitter: 0.2 }, 1, () => 0)).toBe(400);
    expect(backoffDelay({ firstMs: 250, maxMs: 8000, jitter: 0.2 }, 1, () => 1)).toBe(600);
    expect(backoffDelay({ firstMs: 250, maxMs: 8000, jitter: 0.2 }, 10, () => 0.5)).toBe(8000);
  });
});
