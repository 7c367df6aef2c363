import { describe, expect, it, beforeAll, afterAll } from 'vitest';
import { mkdtempSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import { gzipSync } from 'node:zlib';
import { KartError } from '../../../src/errors.ts';
import { readKernelConfig, serializeKernelConfig } from '../../../src/kernel/config/index.ts';
import { debianKernelPaths } from '../../support/debian-kernels.ts';

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'kart-config-read-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const SAMPLE = 'CONFIG_XEN=y\n# CONFIG_XEN_VIRTIO is not set\nCONFIG_LOCALVERSION="-zone"\n';

function write(name: string, bytes: string | Uint8Array): string {
  const path = join(dir, name);
  writeFileSync(path, bytes);
  return path;
}

async function readError(path: string, stdin?: Readable): Promise<KartError> {
  try {
    await readKernelConfig(path, stdin ? { stdin } : {});
  } catch (error) {
    expect(error).toBeInstanceOf(KartError);
    return error as KartError;
  }
  throw new Error('expected readKernelConfig to throw');
}

/** A stream that hands out `bytes` in pieces of `size`, as a slow pipe does. */
function trickle(bytes: Uint8Array, size: number): Readable {
  const pieces: Buffer[] = [];
  for (let i = 0; i < bytes.length; i += size) pieces.push(Buffer.from(bytes.subarray(i, i + size)));
  return Readable.from(pieces);
}

describe('readKernelConfig', () => {
  it('reads a plain file', async () => {
    const path = write('plain.config', SAMPLE);
    const config = await readKernelConfig(path);
    expect(config.source).toBe(path);
    expect(config.get('CONFIG_LOCALVERSION')?.value).toEqual({ kind: 'string', value: '-zone' });
    expect(serializeKernelConfig(config)).toBe(SAMPLE);
  });

  it('gunzips by content, whatever the name says', async () => {
    const gz = write('looks-plain.config', gzipSync(SAMPLE));
    const plainNamedGz = write('config.gz', SAMPLE);
    expect(serializeKernelConfig(await readKernelConfig(gz))).toBe(SAMPLE);
    expect(serializeKernelConfig(await readKernelConfig(plainNamedGz))).toBe(SAMPLE);
  });

  it('reads stdin for -, plain or gzip, even one byte at a time', async () => {
    const plain = await readKernelConfig('-', { stdin: trickle(Buffer.from(SAMPLE), 1) });
    expect(plain.source).toBe('-');
    expect(serializeKernelConfig(plain)).toBe(SAMPLE);
    const gz = await readKernelConfig('-', { stdin: trickle(gzipSync(SAMPLE), 1) });
    expect(serializeKernelConfig(gz)).toBe(SAMPLE);
  });

  it('reads an empty stdin as an empty config', async () => {
    const stdin = new PassThrough();
    stdin.end();
    const config = await readKernelConfig('-', { stdin });
    expect([...config.entries()]).toEqual([]);
  });

  it('keeps a multi-byte character that is split across chunks', async () => {
    const text = 'CONFIG_LOCALVERSION="-zoné"\n';
    const config = await readKernelConfig('-', { stdin: trickle(Buffer.from(text), 3) });
    expect(config.get('CONFIG_LOCALVERSION')?.value).toEqual({ kind: 'string', value: '-zoné' });
  });

  it('CONFIG_UNREADABLE (exit 2) for a missing file, naming the path and the OS reason', async () => {
    const path = join(dir, 'missing.config');
    const error = await readError(path);
    expect(error.code).toBe('CONFIG_UNREADABLE');
    expect(error.exitCode).toBe(2);
    expect(error.message).toBe(`cannot read ${path}: ENOENT: no such file or directory`);
    expect(error.hint).toBe('check that the path exists and is a readable file');
  });

  it('CONFIG_UNREADABLE for a directory', async () => {
    const path = join(dir, 'a-directory');
    mkdirSync(path);
    const error = await readError(path);
    expect(error.code).toBe('CONFIG_UNREADABLE');
    expect(error.message).toBe(`cannot read ${path}: EISDIR: illegal operation on a directory`);
  });

  it('CONFIG_INVALID for a corrupt gzip', async () => {
    const gz = gzipSync(SAMPLE);
    const path = write('corrupt.gz', gz.subarray(0, gz.length - 12));
    const error = await readError(path);
    expect(error.code).toBe('CONFIG_INVALID');
    expect(error.exitCode).toBe(2);
    expect(error.message).toBe(
      `${path}: starts like gzip but does not decompress (unexpected end of file); expected a complete config.gz`,
    );
  });

  it('CONFIG_INVALID for text that is not UTF-8', async () => {
    const path = write('latin1.config', Buffer.from([0x43, 0x4f, 0x4e, 0x46, 0xe9, 0x0a]));
    const error = await readError(path);
    expect(error.code).toBe('CONFIG_INVALID');
    expect(error.message).toBe(`${path}: is not UTF-8 text; this is not a kernel .config`);
  });

  it('CONFIG_INVALID for a real kernel image, stopping at its first NUL', async () => {
    const { vmlinuz } = debianKernelPaths('cloud-amd64');
    const error = await readError(vmlinuz);
    expect(error.code).toBe('CONFIG_INVALID');
    expect(error.message).toBe(`${vmlinuz}:1: holds binary data (a NUL byte); this is not a kernel .config`);
  });

  it('CONFIG_INVALID for a gzip whose content is not a config', async () => {
    const error = await readError('-', trickle(gzipSync('just some text\n'), 7));
    expect(error.code).toBe('CONFIG_INVALID');
    expect(error.message).toBe(
      '<stdin>:1: expected CONFIG_NAME=value, "# CONFIG_NAME is not set", a # comment or a blank line, but found "just some text"',
    );
  });
});

describe('real Debian configs', () => {
  for (const flavor of ['cloud-amd64', 'amd64'] as const) {
    it(`${flavor}: parses without warnings and serializes byte-identical, plain and gzip'd`, async () => {
      const { config: path } = debianKernelPaths(flavor);
      const original = readFileSync(path, 'utf8');
      const config = await readKernelConfig(path);
      expect(config.warnings).toEqual([]);
      expect(serializeKernelConfig(config)).toBe(original);
      const fromGzip = await readKernelConfig(write(`${flavor}.gz`, gzipSync(original)));
      expect(serializeKernelConfig(fromGzip)).toBe(original);
      // Facts a reader can confirm with grep on the same file.
      expect(config.get('CONFIG_XEN_VIRTIO')?.value).toEqual({ kind: 'unset' });
      const xenLine = original.split('\n').indexOf('CONFIG_XEN=y') + 1;
      expect(config.get('CONFIG_XEN')).toEqual({
        name: 'CONFIG_XEN',
        value: { kind: 'tristate', value: 'y' },
        line: xenLine,
      });
      const entries = original.split('\n').filter((l) => /^CONFIG_|^# CONFIG_\w+ is not set/.test(l));
      expect([...config.entries()].length).toBe(entries.length);
    });
  }
});
