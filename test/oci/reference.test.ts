import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { KartError } from '../../src/errors.ts';
import type { Digest } from '../../src/oci/digest.ts';
import {
  formatReference,
  isLoopbackRegistry,
  parseReference,
  withDefaultTag,
  type Reference,
} from '../../src/oci/reference.ts';

const D: Digest = `sha256:${'a'.repeat(64)}`;

describe('parseReference: valid references', () => {
  const table: Array<[string, Reference]> = [
    ['alpine', { kind: 'registry', registry: 'registry-1.docker.io', repository: 'library/alpine' }],
    [
      'alpine:3.20',
      { kind: 'registry', registry: 'registry-1.docker.io', repository: 'library/alpine', tag: '3.20' },
    ],
    [
      'docker.io/alpine',
      { kind: 'registry', registry: 'registry-1.docker.io', repository: 'library/alpine' },
    ],
    ['index.docker.io/acme/k', { kind: 'registry', registry: 'registry-1.docker.io', repository: 'acme/k' }],
    [
      'acme/zone-kernel:6.1',
      { kind: 'registry', registry: 'registry-1.docker.io', repository: 'acme/zone-kernel', tag: '6.1' },
    ],
    [
      'ghcr.io/edera-dev/zone-kernel:6.1.119',
      { kind: 'registry', registry: 'ghcr.io', repository: 'edera-dev/zone-kernel', tag: '6.1.119' },
    ],
    ['localhost:5000/k', { kind: 'registry', registry: 'localhost:5000', repository: 'k' }],
    ['localhost/a/b/c:t', { kind: 'registry', registry: 'localhost', repository: 'a/b/c', tag: 't' }],
    [`127.0.0.1:5000/k@${D}`, { kind: 'registry', registry: '127.0.0.1:5000', repository: 'k', digest: D }],
    [
      `reg.example:443/a__b/c-d:v1@${D}`,
      { kind: 'registry', registry: 'reg.example:443', repository: 'a__b/c-d', tag: 'v1', digest: D },
    ],
    ['[::1]:5000/k:t', { kind: 'registry', registry: '[::1]:5000', repository: 'k', tag: 't' }],
    ['[::1]/k', { kind: 'registry', registry: '[::1]', repository: 'k' }],
    ['oci:./layout', { kind: 'layout', dir: './layout' }],
    ['oci:/tmp/a:b/layout:6.1', { kind: 'layout', dir: '/tmp/a:b/layout', tag: '6.1' }],
    [`oci:dir@${D}`, { kind: 'layout', dir: 'dir', digest: D }],
  ];
  it.each(table)('%s', (input, expected) => {
    expect(parseReference(input)).toStrictEqual(expected);
  });

  it('round-trips through formatReference', () => {
    for (const [, ref] of table) expect(parseReference(formatReference(ref))).toStrictEqual(ref);
    expect(formatReference(table[0]![1])).toBe('registry-1.docker.io/library/alpine');
    expect(formatReference(table[14]![1])).toBe(`oci:dir@${D}`);
  });
});

describe('parseReference: every error says which part is wrong', () => {
  const REG = 'write it as [HOST[:PORT]/]REPOSITORY[:TAG][@DIGEST], e.g. ghcr.io/acme/zone-kernel:6.1';
  const LAY = 'write it as oci:DIR[:TAG|@DIGEST], e.g. oci:./kernels:6.1';
  const table: Array<[string, string, string]> = [
    ['', 'reference "": is empty', REG],
    ['a b', 'reference "a b": contains whitespace or control characters', REG],
    [':t', 'reference ":t": the repository name is missing', REG],
    [
      'Alpine',
      'reference "Alpine": the repository "library/Alpine" is not valid: "Alpine" must be lowercase letters and digits, separated by ".", "_", "__" or "-"',
      REG,
    ],
    [
      'ghcr.io/a//b',
      'reference "ghcr.io/a//b": the repository "a//b" is not valid: "" must be lowercase letters and digits, separated by ".", "_", "__" or "-"',
      REG,
    ],
    [
      'ghcr.io/a-:t',
      'reference "ghcr.io/a-:t": the repository "a-" is not valid: "a-" must be lowercase letters and digits, separated by ".", "_", "__" or "-"',
      REG,
    ],
    ['a:', 'reference "a:": the tag after ":" is empty', REG],
    [
      'a:-x',
      'reference "a:-x": the tag "-x" is not valid (letters, digits, "_", "." and "-", not starting with "." or "-", at most 128 characters)',
      REG,
    ],
    [
      `a:${'t'.repeat(129)}`,
      `reference "a:${'t'.repeat(129)}": the tag "${'t'.repeat(129)}" is not valid (letters, digits, "_", "." and "-", not starting with "." or "-", at most 128 characters)`,
      REG,
    ],
    [
      'a@sha256:xyz',
      'reference "a@sha256:xyz": the digest "sha256:xyz" is not valid (expected ALGORITHM:HEX, e.g. sha256:<64 hex>)',
      REG,
    ],
    [
      'bad_host.io/a',
      'reference "bad_host.io/a": the registry host "bad_host.io" is not a valid host name (letters, digits and "-" in dot-separated labels)',
      REG,
    ],
    [
      'host.io:99999/a',
      'reference "host.io:99999/a": the registry port "99999" is not a number from 1 to 65535',
      REG,
    ],
    ['host.io:/a', 'reference "host.io:/a": the registry port "" is not a number from 1 to 65535', REG],
    [
      '[zz]:5000/a',
      'reference "[zz]:5000/a": the registry host "[zz]:5000" is not a valid [IPv6] address',
      REG,
    ],
    [
      `r.io/${'a'.repeat(251)}`,
      `reference "r.io/${'a'.repeat(251)}": the name "r.io/${'a'.repeat(251)}" is 256 characters long (at most 255)`,
      REG,
    ],
    ['oci:', 'reference "oci:": the layout directory is empty', LAY],
    [
      'oci:dir:.bad',
      'reference "oci:dir:.bad": the tag ".bad" is not valid (letters, digits, "_", "." and "-", not starting with "." or "-", at most 128 characters)',
      LAY,
    ],
    [
      'oci:dir@sha256:1',
      'reference "oci:dir@sha256:1": the digest "sha256:1" is not valid (expected ALGORITHM:HEX, e.g. sha256:<64 hex>)',
      LAY,
    ],
  ];
  it.each(table)('%s', (input, message, hint) => {
    let caught: unknown;
    try {
      parseReference(input);
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(KartError);
    const e = caught as KartError;
    expect([e.code, e.message, e.hint, e.exitCode]).toStrictEqual(['REFERENCE_INVALID', message, hint, 2]);
  });

  it('caps absurdly long input and does not echo all of it', () => {
    const long = 'a'.repeat(5000);
    expect(() => parseReference(long)).toThrow(
      `reference "${'a'.repeat(40)}…": is 5000 characters long (at most 4096)`,
    );
  });

  it('any string either parses or raises REFERENCE_INVALID', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 80 }), (s) => {
        try {
          const ref = parseReference(s);
          expect(parseReference(formatReference(ref))).toStrictEqual(ref);
        } catch (error) {
          expect((error as KartError).code).toBe('REFERENCE_INVALID');
        }
      }),
      { numRuns: 2000 },
    );
  });
});

describe('withDefaultTag', () => {
  it('adds latest only when neither tag nor digest is given', () => {
    expect(withDefaultTag(parseReference('alpine'))).toStrictEqual({
      kind: 'registry',
      registry: 'registry-1.docker.io',
      repository: 'library/alpine',
      tag: 'latest',
    });
    expect(withDefaultTag(parseReference('alpine:3'))).toHaveProperty('tag', '3');
    expect(withDefaultTag(parseReference(`alpine@${D}`))).not.toHaveProperty('tag');
    expect(withDefaultTag(parseReference('oci:x'), 'v1')).toStrictEqual({
      kind: 'layout',
      dir: 'x',
      tag: 'v1',
    });
  });
});

describe('isLoopbackRegistry', () => {
  it.each([
    ['localhost', true],
    ['localhost:5000', true],
    ['127.0.0.1:5000', true],
    ['127.255.3.4', true],
    ['[::1]:5000', true],
    ['[::1]', true],
    ['128.0.0.1', false],
    ['127.0.0.1.example.com', false],
    ['ghcr.io', false],
    ['[::2]:5000', false],
    ['localhost.evil.io', false],
  ])('%s → %s', (host, loopback) => {
    expect(isLoopbackRegistry(host)).toBe(loopback);
  });
});
