import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, describe, expect, it } from 'vitest';
import { KartError, readTar, sha256Digest, tarLayer, type TarFileEntry } from '../../src/oci/index.ts';

const work = mkdtempSync(join(tmpdir(), 'kart-tar-writer-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

async function collect(entries: TarFileEntry[], mtime = 0): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const chunk of tarLayer(entries, { mtime })) parts.push(chunk as Buffer);
  return Buffer.concat(parts);
}

function gnuList(bytes: Buffer): string {
  const file = join(work, `list-${Math.random().toString(16).slice(2)}.tar`);
  writeFileSync(file, bytes);
  return execFileSync('tar', ['-tvf', file], {
    encoding: 'utf8',
    env: { ...process.env, TZ: 'UTC', LC_ALL: 'C' },
  });
}

async function expectKartError(run: () => unknown, code: string, message: string): Promise<void> {
  let caught: unknown;
  try {
    await run();
  } catch (error) {
    caught = error;
  }
  expect(caught).toBeInstanceOf(KartError);
  expect((caught as KartError).code).toBe(code);
  expect((caught as KartError).message).toBe(message);
}

describe('tarLayer', () => {
  const image = join(work, 'bzImage');
  writeFileSync(image, 'not really a kernel\n'); // 20 bytes

  it('lists in GNU tar as kernel/ then the file, owner 0/0, fixed modes and mtime', async () => {
    const bytes = await collect([{ path: 'kernel/image', size: 20, source: image }], 0);
    expect(gnuList(bytes)).toBe(
      'drwxr-xr-x 0/0               0 1970-01-01 00:00 kernel/\n' +
        '-rw-r--r-- 0/0              20 1970-01-01 00:00 kernel/image\n',
    );
    // header, header, one data block, two end blocks
    expect(bytes.length).toBe(5 * 512);
    expect(bytes.subarray(1024, 1044).toString()).toBe('not really a kernel\n');
    expect(bytes.subarray(1044, 5 * 512).every((b) => b === 0)).toBe(true);
    // ustar magic, empty uname/gname
    expect(bytes.subarray(257, 265).toString('latin1')).toBe('ustar\u000000');
    expect(bytes.subarray(265, 329).every((b) => b === 0)).toBe(true);
    // Pinned: a change here changes the digest of every layer kart ever published.
    expect(sha256Digest(bytes)).toBe(
      'sha256:149b3bd13ac2c88b039294e3c7ed4c6ced847dea3b930921ec787c69ab75b6d6',
    );
  });

  it('gives the same bytes for the same inputs, and other bytes for another mtime', async () => {
    const entries = (): TarFileEntry[] => [
      { path: 'kernel/image', size: 20, source: image },
      { path: 'kernel/metadata', size: 4, source: () => Readable.from([Buffer.from('A=1\n')]) },
    ];
    const first = await collect(entries(), 1_700_000_000);
    const second = await collect(entries(), 1_700_000_000);
    expect(second.equals(first)).toBe(true);
    const other = await collect(entries(), 1_700_000_001);
    expect(sha256Digest(other)).not.toBe(sha256Digest(first));
    // one kernel/ directory entry shared by both files
    expect(gnuList(first)).toBe(
      'drwxr-xr-x 0/0               0 2023-11-14 22:13 kernel/\n' +
        '-rw-r--r-- 0/0              20 2023-11-14 22:13 kernel/image\n' +
        '-rw-r--r-- 0/0               4 2023-11-14 22:13 kernel/metadata\n',
    );
  });

  it('round-trips through readTar with every header field', async () => {
    const bytes = await collect([{ path: 'kernel/image', size: 20, source: image }], 42);
    const seen: Array<[string, string, number, number, number, number, number, string]> = [];
    for await (const entry of readTar(Readable.from([bytes]))) {
      const parts: Buffer[] = [];
      for await (const chunk of entry.body) parts.push(chunk as Buffer);
      seen.push([
        entry.path,
        entry.type,
        entry.size,
        entry.mode,
        entry.uid,
        entry.gid,
        entry.mtime,
        Buffer.concat(parts).toString(),
      ]);
    }
    expect(seen).toEqual([
      ['kernel/', 'dir', 0, 0o755, 0, 0, 42, ''],
      ['kernel/image', 'file', 20, 0o644, 0, 0, 42, 'not really a kernel\n'],
    ]);
  });

  it('stores a path over 100 bytes in the ustar prefix field', async () => {
    const long = `${'d'.repeat(60)}/${'e'.repeat(60)}/${'f'.repeat(90)}`;
    const bytes = await collect([{ path: long, size: 20, source: image }]);
    const listed = gnuList(bytes)
      .trim()
      .split('\n')
      .map((line) => line.slice(line.lastIndexOf(' ') + 1));
    expect(listed).toEqual([`${'d'.repeat(60)}/`, `${'d'.repeat(60)}/${'e'.repeat(60)}/`, long]);
    const read: string[] = [];
    for await (const entry of readTar(Readable.from([bytes]))) read.push(entry.path);
    expect(read).toEqual(listed);
  });

  it('refuses a path that no ustar split can hold', async () => {
    const long = `${'x'.repeat(101)}`;
    await expectKartError(
      () => tarLayer([{ path: long, size: 1, source: image }], { mtime: 0 }),
      'TAR_PATH_TOO_LONG',
      `tar entry path "${long}" is too long for a ustar header (101 bytes)`,
    );
  });

  it.each(['/abs/file', './kernel/image', 'kernel/../image', 'kernel//image', ''])(
    'refuses the unclean path "%s"',
    async (path) => {
      await expectKartError(
        () => tarLayer([{ path, size: 1, source: image }], { mtime: 0 }),
        'TAR_PATH_INVALID',
        `tar entry path "${path}" is not a clean relative path`,
      );
    },
  );

  it('refuses a negative or fractional mtime', async () => {
    await expectKartError(
      () => tarLayer([{ path: 'a', size: 1, source: image }], { mtime: 1.5 }),
      'TAR_MTIME_INVALID',
      'tar mtime 1.5 is not a non-negative whole second',
    );
  });

  it('fails the stream when the content is longer or shorter than announced', async () => {
    await expectKartError(
      () => collect([{ path: 'kernel/image', size: 19, source: image }]),
      'TAR_SOURCE_CHANGED',
      'tar entry kernel/image: content is more than 19 bytes, but 19 were announced',
    );
    await expectKartError(
      () => collect([{ path: 'kernel/image', size: 21, source: image }]),
      'TAR_SOURCE_CHANGED',
      'tar entry kernel/image: content is 20 bytes, but 21 were announced',
    );
  });

  it('fails the stream naming the entry when the source file is missing', async () => {
    const missing = join(work, 'missing');
    let caught: unknown;
    try {
      await collect([{ path: 'kernel/image', size: 1, source: missing }]);
    } catch (error) {
      caught = error;
    }
    expect((caught as KartError).code).toBe('TAR_SOURCE_UNREADABLE');
    expect((caught as KartError).message).toBe(
      `tar entry kernel/image: cannot read its content: ENOENT: no such file or directory, open '${missing}'`,
    );
  });
});
