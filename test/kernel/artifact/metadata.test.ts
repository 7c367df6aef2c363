import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { KartError } from '../../../src/errors.ts';
import {
  formatKernelMetadata,
  parseKernelMetadata,
  MAX_METADATA_BYTES,
  type KernelMetadata,
} from '../../../src/kernel/artifact/index.ts';
import { versionFromRelease } from '../../../src/kernel/tags/index.ts';
import { debianKernelPaths } from '../../support/debian-kernels.ts';

const CONFIG = `sha256:${'b483a8fb'.padEnd(64, '0')}`;
const FULL: KernelMetadata = {
  arch: 'x86_64',
  version: '6.18.44',
  unameRelease: '6.18.44-edera-zone',
  flavor: 'zone',
  configDigest: CONFIG,
  tags: ['6.18.44', '6.18', '6', 'latest'],
};

function expectKartError(fn: () => unknown, code: string, message: string): KartError {
  let caught: unknown;
  try {
    fn();
  } catch (error) {
    caught = error;
  }
  expect(caught).toBeInstanceOf(KartError);
  const error = caught as KartError;
  expect({ code: error.code, message: error.message, exitCode: error.exitCode }).toEqual({
    code,
    message,
    exitCode: 2,
  });
  return error;
}

describe('formatKernelMetadata', () => {
  it('writes the documented keys in the documented order, LF, no quoting', () => {
    expect(formatKernelMetadata(FULL)).toBe(
      'KERNEL_ARCH=x86_64\n' +
        'KERNEL_VERSION=6.18.44\n' +
        'KERNEL_UNAME_R=6.18.44-edera-zone\n' +
        'KERNEL_FLAVOR=zone\n' +
        `KERNEL_CONFIG=${CONFIG}\n` +
        'KERNEL_TAGS=6.18.44,6.18,6,latest\n',
    );
  });

  it('omits the optional keys when absent, writes an empty tag list, and appends extras in order', () => {
    const { unameRelease: _u, tags: _t, ...old } = FULL;
    expect(formatKernelMetadata({ ...old, arch: 'aarch64' })).toBe(
      `KERNEL_ARCH=aarch64\nKERNEL_VERSION=6.18.44\nKERNEL_FLAVOR=zone\nKERNEL_CONFIG=${CONFIG}\n`,
    );
    expect(
      formatKernelMetadata({
        ...FULL,
        tags: [],
        extra: { KERNEL_SRC_REPO: 'https://x/y?a=b', KERNEL_SRC_COMMIT: 'abc' },
      }),
    ).toBe(
      'KERNEL_ARCH=x86_64\nKERNEL_VERSION=6.18.44\nKERNEL_UNAME_R=6.18.44-edera-zone\nKERNEL_FLAVOR=zone\n' +
        `KERNEL_CONFIG=${CONFIG}\nKERNEL_TAGS=\nKERNEL_SRC_REPO=https://x/y?a=b\nKERNEL_SRC_COMMIT=abc\n`,
    );
  });

  it.each([
    [{ version: '6.1\n0' }, 'kernel metadata: KERNEL_VERSION must not contain a newline or NUL'],
    [{ version: '' }, 'kernel metadata: KERNEL_VERSION must not be empty'],
    [{ unameRelease: '6.1.0\r' }, 'kernel metadata: KERNEL_UNAME_R must not contain a newline or NUL'],
    [{ flavor: 'zo\0ne' }, 'kernel metadata: KERNEL_FLAVOR must not contain a newline or NUL'],
    [
      { configDigest: 'sha256:abc' },
      'kernel metadata: KERNEL_CONFIG must be sha256: followed by 64 lowercase hex digits',
    ],
    [{ arch: 'amd64' }, 'kernel metadata: KERNEL_ARCH must be x86_64 or aarch64'],
    [{ tags: ['6.1', 'a,b'] }, 'kernel metadata: KERNEL_TAGS each tag must be a valid OCI tag'],
    [{ extra: { 'BAD KEY': 'x' } }, 'kernel metadata: extra key "BAD KEY" is not a new KEY name'],
    [{ extra: { KERNEL_ARCH: 'x86_64' } }, 'kernel metadata: extra key "KERNEL_ARCH" is not a new KEY name'],
    [
      { extra: { KERNEL_SRC_REF: 'a\nKERNEL_ARCH=aarch64' } },
      'kernel metadata: KERNEL_SRC_REF must not contain a newline or NUL',
    ],
  ])('METADATA_INVALID for %j', (change, message) => {
    expectKartError(
      () => formatKernelMetadata({ ...FULL, ...change } as KernelMetadata),
      'METADATA_INVALID',
      message,
    );
  });
});

describe('parseKernelMetadata', () => {
  it('reads the live 4-line zone-kernel:stable sample (no KERNEL_UNAME_R, no KERNEL_TAGS)', () => {
    const text = `KERNEL_ARCH=x86_64\nKERNEL_VERSION=6.15.1\nKERNEL_FLAVOR=zone\nKERNEL_CONFIG=${CONFIG}\n`;
    expect(parseKernelMetadata(text, 'sample')).toEqual({
      arch: 'x86_64',
      version: '6.15.1',
      flavor: 'zone',
      configDigest: CONFIG,
      extra: {},
    });
  });

  it('is order-free, tolerates CRLF and blank lines, keeps values verbatim and unknown keys', () => {
    const text =
      '\r\nKERNEL_TAGS=6.10,6.10.5,6,latest,stable\r\n\r\nKERNEL_SRC_REPO=https://h/p?x=1=2\r\n' +
      `KERNEL_CONFIG=${CONFIG}\r\nKERNEL_FLAVOR= zone with spaces \r\nKERNEL_UNAME_R=6.10.5-edera-zone\r\n` +
      'KERNEL_VERSION=6.10.5+nvidia=1\r\n   \r\nKERNEL_ARCH=aarch64\r\nKERNEL_SRC_REPO=second\r\nEMPTY=\r\n';
    expect(parseKernelMetadata(Buffer.from(text), 'crlf')).toEqual({
      arch: 'aarch64',
      version: '6.10.5+nvidia=1',
      unameRelease: '6.10.5-edera-zone',
      flavor: ' zone with spaces ',
      configDigest: CONFIG,
      tags: ['6.10', '6.10.5', '6', 'latest', 'stable'],
      extra: { KERNEL_SRC_REPO: 'https://h/p?x=1=2', EMPTY: '' },
    });
  });

  it('keeps an unknown key named __proto__ as data', () => {
    const text = `__proto__=x\nKERNEL_ARCH=x86_64\nKERNEL_VERSION=6.1.0\nKERNEL_FLAVOR=z\nKERNEL_CONFIG=${CONFIG}\n`;
    const parsed = parseKernelMetadata(text, 's');
    expect(Object.hasOwn(parsed.extra, '__proto__')).toBe(true);
    expect(Object.getOwnPropertyDescriptor(parsed.extra, '__proto__')?.value).toBe('x');
    expect(Object.getPrototypeOf(parsed.extra)).toBe(Object.prototype);
  });

  it('reads an empty KERNEL_TAGS as no tags, and skips empty items', () => {
    const base = `KERNEL_ARCH=x86_64\nKERNEL_VERSION=6.1.0\nKERNEL_FLAVOR=z\nKERNEL_CONFIG=${CONFIG}\n`;
    expect(parseKernelMetadata(`${base}KERNEL_TAGS=`, 's').tags).toEqual([]);
    expect(parseKernelMetadata(`${base}KERNEL_TAGS=a,,b,`, 's').tags).toEqual(['a', 'b']);
  });

  const GOOD = `KERNEL_ARCH=x86_64\nKERNEL_VERSION=6.1.0\nKERNEL_FLAVOR=zone\nKERNEL_CONFIG=${CONFIG}\n`;
  it.each([
    [`${GOOD}not a pair\n`, 'meta:5: "not a pair" is not KEY=VALUE'],
    [`=x\n${GOOD}`, 'meta:1: has an empty key before "="'],
    [`${GOOD}KERNEL_FLAVOR=host\n`, 'meta:5: KERNEL_FLAVOR appears again (first on line 3)'],
    [GOOD.replace('KERNEL_CONFIG', 'KERNEL_CONFIG_X'), 'meta: has no KERNEL_CONFIG line'],
    [
      GOOD.replace('KERNEL_ARCH=x86_64', 'KERNEL_ARCH=amd64'),
      'meta:1: KERNEL_ARCH=amd64: KERNEL_ARCH must be x86_64 or aarch64',
    ],
    [
      GOOD.replace(CONFIG, CONFIG.toUpperCase()),
      `meta:4: KERNEL_CONFIG=${CONFIG.toUpperCase()}: KERNEL_CONFIG must be sha256: followed by 64 lowercase hex digits`,
    ],
    [GOOD.replace('6.1.0', ''), 'meta:2: KERNEL_VERSION=: KERNEL_VERSION must not be empty'],
    [
      `${GOOD}KERNEL_TAGS=ok,-bad\n`,
      'meta:5: KERNEL_TAGS=ok,-bad: KERNEL_TAGS each tag must be a valid OCI tag',
    ],
    [`${GOOD}X=a\0b\n`, 'meta:5: contains a NUL byte'],
    ['', 'meta: has no KERNEL_ARCH line'],
  ])('METADATA_INVALID: %j', (text, message) => {
    expectKartError(() => parseKernelMetadata(text, 'meta'), 'METADATA_INVALID', message);
  });

  it('refuses bytes that are not UTF-8 and files far larger than metadata', () => {
    expectKartError(
      () => parseKernelMetadata(new Uint8Array([0x4b, 0xff, 0x3d]), 'meta'),
      'METADATA_INVALID',
      'meta: is not UTF-8 text',
    );
    const big = 'X=' + 'y'.repeat(MAX_METADATA_BYTES);
    expectKartError(
      () => parseKernelMetadata(big, 'meta'),
      'METADATA_INVALID',
      `meta: is ${big.length} bytes; a kernel metadata file is at most ${MAX_METADATA_BYTES}`,
    );
  });

  it('round-trips the real Debian cloud kernel: release, version and the sha256 of its .config', () => {
    const kernel = debianKernelPaths('cloud-amd64');
    const configDigest = `sha256:${createHash('sha256').update(readFileSync(kernel.config)).digest('hex')}`;
    const version = versionFromRelease(kernel.release);
    expect(version).toMatch(/^6\.1\.0$/);
    const metadata: KernelMetadata = {
      arch: 'x86_64',
      version: version ?? '',
      unameRelease: kernel.release,
      flavor: 'demo',
      configDigest,
      tags: [version ?? ''],
    };
    const text = formatKernelMetadata(metadata);
    expect(text.split('\n')[2]).toBe(`KERNEL_UNAME_R=${kernel.release}`);
    expect(parseKernelMetadata(text, 'debian')).toEqual({ ...metadata, extra: {} });
  });
});

describe('metadata properties (fast-check)', () => {
  const lineText = fc.string({ unit: 'grapheme', maxLength: 30 }).filter((s) => !/[\n\r\0]/.test(s));
  const metadata = fc.record({
    arch: fc.constantFrom('x86_64' as const, 'aarch64' as const),
    version: lineText.filter((s) => s.length > 0),
    unameRelease: fc.option(
      lineText.filter((s) => s.length > 0),
      { nil: undefined },
    ),
    flavor: lineText.filter((s) => s.length > 0),
    configDigest: fc
      .uint8Array({ minLength: 32, maxLength: 32 })
      .map((b) => `sha256:${Buffer.from(b).toString('hex')}`),
    tags: fc.option(fc.array(fc.stringMatching(/^[a-zA-Z0-9_][a-zA-Z0-9._-]{0,20}$/), { maxLength: 5 }), {
      nil: undefined,
    }),
    extra: fc.dictionary(fc.stringMatching(/^X_[A-Z0-9_]{1,8}$/), lineText, { maxKeys: 3 }),
  });

  it('format then parse gives back what was written', () => {
    fc.assert(
      fc.property(metadata, (m) => {
        const parsed = parseKernelMetadata(formatKernelMetadata(m), 'p');
        const { unameRelease, tags, ...rest } = m;
        expect(parsed).toEqual({
          ...rest,
          ...(unameRelease === undefined ? {} : { unameRelease }),
          ...(tags === undefined ? {} : { tags }),
        });
      }),
      { numRuns: 300 },
    );
  });

  const isMetadataError = (error: unknown) => error instanceof KartError && error.code === 'METADATA_INVALID';

  it('fuzz: any text either parses or raises METADATA_INVALID', () => {
    const piece = fc.oneof(
      fc.constantFrom(
        'KERNEL_ARCH=',
        'KERNEL_VERSION=',
        'KERNEL_FLAVOR=',
        'KERNEL_CONFIG=',
        'KERNEL_TAGS=',
        'KERNEL_UNAME_R=',
      ),
      fc.constantFrom(
        'x86_64',
        'aarch64',
        CONFIG,
        '=',
        '\n',
        '\r\n',
        '\r',
        '\0',
        ',',
        ' ',
        'constructor',
        '__proto__=',
      ),
      fc.string({ maxLength: 10 }),
    );
    fc.assert(
      fc.property(fc.array(piece, { maxLength: 40 }), (pieces) => {
        try {
          parseKernelMetadata(pieces.join(''), 'fuzz');
        } catch (error) {
          expect(isMetadataError(error)).toBe(true);
        }
      }),
      { numRuns: 2000 },
    );
  });

  it('fuzz: any bytes either parse or raise METADATA_INVALID', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), (bytes) => {
        try {
          parseKernelMetadata(bytes, 'fuzz');
        } catch (error) {
          expect(isMetadataError(error)).toBe(true);
        }
      }),
      { numRuns: 1000 },
    );
  });
});
