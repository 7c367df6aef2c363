import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, describe, expect, it } from 'vitest';
import { KartError, readTar, sha256Digest, type TarEntry } from '../../src/oci/index.ts';
import { tarBytes } from './support/small-image.ts';

const work = mkdtempSync(join(tmpdir(), 'kart-tar-reader-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

interface Seen {
  path: string;
  type: TarEntry['type'];
  size: number;
  linkname: string;
  digest: string;
}

async function readAll(bytes: Buffer, consume = true): Promise<Seen[]> {
  const seen: Seen[] = [];
  // Small chunks make every header and body straddle chunk boundaries.
  const chunks: Buffer[] = [];
  for (let at = 0; at < bytes.length; at += 700) chunks.push(bytes.subarray(at, at + 700));
  for await (const entry of readTar(Readable.from(chunks))) {
    const parts: Buffer[] = [];
    if (consume) for await (const chunk of entry.body) parts.push(chunk as Buffer);
    seen.push({
      path: entry.path,
      type: entry.type,
      size: entry.size,
      linkname: entry.linkname,
      digest: sha256Digest(Buffer.concat(parts)),
    });
  }
  return seen;
}

async function expectTarInvalid(bytes: Buffer, message: string): Promise<void> {
  let caught: unknown;
  try {
    await readAll(bytes);
  } catch (error) {
    caught = error;
  }
  expect(caught).toBeInstanceOf(KartError);
  expect((caught as KartError).code).toBe('TAR_INVALID');
  expect((caught as KartError).message).toBe(`tar archive: ${message}`);
}

// A tree with a 123-byte directory name, a 234-byte path, a symlink and a 100 kB file.
const tree = join(work, 'tree');
const longDir = 'a'.repeat(120);
const longFile = 'b'.repeat(110);
const big = Buffer.alloc(100_000, 7).map((_, i) => (i * 31) % 251);
mkdirSync(join(tree, longDir), { recursive: true });
writeFileSync(join(tree, longDir, longFile), 'hi\n');
writeFileSync(join(tree, 'big'), big);
symlinkSync('../elsewhere', join(tree, 'link'));

function gnuTar(format: 'gnu' | 'pax'): Buffer {
  const out = join(work, `${format}.tar`);
  execFileSync('tar', [`--format=${format}`, '--sort=name', '-cf', out, '-C', tree, 'big', 'link', longDir]);
  return readFileSync(out);
}

const expected: Seen[] = [
  { path: 'big', type: 'file', size: 100_000, linkname: '', digest: sha256Digest(big) },
  { path: 'link', type: 'symlink', size: 0, linkname: '../elsewhere', digest: sha256Digest('') },
  { path: `${longDir}/`, type: 'dir', size: 0, linkname: '', digest: sha256Digest('') },
  { path: `${longDir}/${longFile}`, type: 'file', size: 3, linkname: '', digest: sha256Digest('hi\n') },
];

describe('readTar', () => {
  it('reads GNU tar archives with L long names', async () => {
    expect(await readAll(gnuTar('gnu'))).toEqual(expected);
  });

  it('reads pax archives with path records', async () => {
    expect(await readAll(gnuTar('pax'))).toEqual(expected);
  });

  it('skips bodies the caller did not read', async () => {
    const seen = await readAll(gnuTar('gnu'), false);
    expect(seen.map((s) => s.path)).toEqual(expected.map((e) => e.path));
  });

  it('rejects a header whose checksum does not match, naming the entry and offset', async () => {
    const bytes = await tarBytes({ 'kernel/image': 'abc' });
    const damaged = Buffer.from(bytes);
    damaged[512 + 6] = 'X'.charCodeAt(0); // second header: kernel/image → kernelXimage
    const stored = parseInt(damaged.toString('latin1', 512 + 148, 512 + 154), 8);
    await expectTarInvalid(
      damaged,
      `header at offset 512 (entry "kernelXimage") has checksum ${stored}, but its bytes sum to ${stored + 'X'.charCodeAt(0) - '/'.charCodeAt(0)}`,
    );
  });

  it('rejects an archive cut in the middle of a body, naming the entry', async () => {
    const bytes = await tarBytes({ 'kernel/image': 'x'.repeat(1000) });
    await expectTarInvalid(
      bytes.subarray(0, 1024 + 600),
      'entry "kernel/image" at offset 512 declares 1000 bytes, but the archive ends after 600',
    );
  });

  it('rejects a size that overruns the stream', async () => {
    const bytes = Buffer.from(await tarBytes({ 'kernel/image': 'abc' }));
    // Claim 4096 bytes in the file header and fix its checksum: only 3 + padding + end blocks follow.
    bytes.write('00000010000\0', 512 + 124, 'latin1');
    bytes.fill(0x20, 512 + 148, 512 + 156);
    let sum = 0;
    for (let i = 512; i < 1024; i++) sum += bytes[i] ?? 0;
    bytes.write(`${sum.toString(8).padStart(6, '0')}\0 `, 512 + 148, 'latin1');
    await expectTarInvalid(
      bytes,
      'entry "kernel/image" at offset 512 declares 4096 bytes, but the archive ends after 1536',
    );
  });

  it('rejects an archive that stops at a header boundary without its end marker', async () => {
    const bytes = await tarBytes({ 'kernel/image': 'abc' });
    await expectTarInvalid(
      bytes.subarray(0, 1536),
      'archive ends at offset 1536 without an end-of-archive marker',
    );
  });

  it('rejects a header cut short', async () => {
    const bytes = await tarBytes({ 'kernel/image': 'abc' });
    await expectTarInvalid(
      bytes.subarray(0, 700),
      'archive ends at offset 512 without an end-of-archive marker',
    );
  });

  it('rejects a size field that is not octal', async () => {
    const bytes = Buffer.from(await tarBytes({ 'kernel/image': 'abc' }));
    bytes.write('0000000009\0', 512 + 124, 'latin1');
    bytes.fill(0x20, 512 + 148, 512 + 156);
    let sum = 0;
    for (let i = 512; i < 1024; i++) sum += bytes[i] ?? 0;
    bytes.write(`${sum.toString(8).padStart(6, '0')}\0 `, 512 + 148, 'latin1');
    await expectTarInvalid(bytes, 'header at offset 512: size field "0000000009" is not an octal number');
  });
});
