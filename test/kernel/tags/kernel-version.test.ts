import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  compareKernelVersions,
  isPrerelease,
  isReleaseVersion,
  parseKernelVersion,
  versionFromRelease,
  type KernelVersion,
} from '../../../src/kernel/tags/index.ts';

function v(text: string): KernelVersion {
  const parsed = parseKernelVersion(text);
  if (parsed === undefined) throw new Error(`test: ${text} should parse`);
  return parsed;
}

describe('parseKernelVersion', () => {
  it.each([
    ['6', [6], undefined, undefined],
    ['6.1', [6, 1], undefined, undefined],
    ['6.1.10', [6, 1, 10], undefined, undefined],
    ['6.10.0', [6, 10, 0], undefined, undefined],
    ['7.3.0-rc3', [7, 3, 0], 3, undefined],
    ['6.18.44-nvidia-595.91.07', [6, 18, 44], undefined, 'nvidia-595.91.07'],
    ['7.3.0-rc3-nvidia-610.57.04', [7, 3, 0], 3, 'nvidia-610.57.04'],
    ['6.1.10-0123456789ab', [6, 1, 10], undefined, '0123456789ab'],
    ['5.4.60-83', [5, 4, 60], undefined, '83'],
    ['2.6.32.71', [2, 6, 32, 71], undefined, undefined],
  ])('%s', (text, numbers, rc, variant) => {
    expect(parseKernelVersion(text)).toEqual({ text, numbers, rc, variant });
  });

  it.each([
    'latest',
    'stable',
    'v6.1',
    '6.1.x',
    '06.1',
    '6.01.1',
    '6.',
    '.6',
    '6..1',
    '',
    '6.1.10-',
    '6.1.10--x',
    '1.2.3.4.5',
  ])('ignores %j (not a version)', (text) => {
    expect(parseKernelVersion(text)).toBeUndefined();
  });

  it('tells releases from alias-shaped versions and prereleases from releases', () => {
    expect([isReleaseVersion(v('6')), isReleaseVersion(v('6.1')), isReleaseVersion(v('6.1.0'))]).toEqual([
      false,
      false,
      true,
    ]);
    expect([isPrerelease(v('7.3.0-rc3')), isPrerelease(v('7.3.0')), isPrerelease(v('6.1.0-rcx'))]).toEqual([
      true,
      false,
      false,
    ]);
  });
});

describe('compareKernelVersions (kernel order)', () => {
  it.each([
    ['6.10', '6.9'],
    ['6.1.100', '6.1.99'],
    ['6.10.0', '6.9.5'],
    ['7.3.0', '7.3.0-rc3'],
    ['7.3.0-rc10', '7.3.0-rc9'],
    ['7.3.0-rc1', '7.2.99'],
    ['6.1.0', '6.1'],
    ['6.18.44-nvidia-610.57.04', '6.18.44-nvidia-595.91.07'],
    ['6.18.44-nvidia-595.91.07', '6.18.44'],
    ['2.6.32.71', '2.6.32'],
  ])('%s > %s', (high, low) => {
    expect(compareKernelVersions(v(high), v(low))).toBeGreaterThan(0);
    expect(compareKernelVersions(v(low), v(high))).toBeLessThan(0);
  });

  it('sorts a mixed list in kernel order', () => {
    const list = ['6.10.0', '6.9.5', '7.3.0', '6.1.100', '7.3.0-rc3', '6.1.99', '6.2.1', '6.1.9', '6.1.10'];
    const sorted = list
      .map(v)
      .sort(compareKernelVersions)
      .map((x) => x.text);
    expect(sorted).toEqual([
      '6.1.9',
      '6.1.10',
      '6.1.99',
      '6.1.100',
      '6.2.1',
      '6.9.5',
      '6.10.0',
      '7.3.0-rc3',
      '7.3.0',
    ]);
  });

  const versionText = fc
    .tuple(
      fc.array(fc.integer({ min: 0, max: 120 }), { minLength: 1, maxLength: 4 }),
      fc.option(fc.integer({ min: 1, max: 12 }), { nil: undefined }),
      fc.option(fc.constantFrom('nvidia-595.91.07', 'nvidia-610.57.04', 'lts', '83'), { nil: undefined }),
    )
    .map(([numbers, rc, variant]) => ({ numbers, rc, variant }));

  it('is a total order: antisymmetric, zero only for the same text, transitive (property)', () => {
    fc.assert(
      fc.property(versionText, versionText, versionText, (a, b, c) => {
        const text = (x: typeof a) =>
          `${x.numbers.join('.')}${x.rc === undefined ? '' : `-rc${x.rc}`}${x.variant === undefined ? '' : `-${x.variant}`}`;
        const [pa, pb, pc] = [v(text(a)), v(text(b)), v(text(c))];
        expect(pa.numbers).toEqual(a.numbers);
        expect(Math.sign(compareKernelVersions(pa, pb))).toBe(-Math.sign(compareKernelVersions(pb, pa)));
        expect(compareKernelVersions(pa, pb) === 0).toBe(pa.text === pb.text);
        if (compareKernelVersions(pa, pb) <= 0 && compareKernelVersions(pb, pc) <= 0) {
          expect(compareKernelVersions(pa, pc)).toBeLessThanOrEqual(0);
        }
      }),
      { numRuns: 500 },
    );
  });

  it('orders plain releases like a numeric tuple comparison, rc before release (property)', () => {
    const release = fc.tuple(
      fc.integer({ min: 0, max: 20 }),
      fc.integer({ min: 0, max: 20 }),
      fc.integer({ min: 0, max: 200 }),
      fc.option(fc.integer({ min: 1, max: 12 }), { nil: undefined }),
    );
    fc.assert(
      fc.property(release, release, (a, b) => {
        const text = (x: typeof a) => `${x[0]}.${x[1]}.${x[2]}${x[3] === undefined ? '' : `-rc${x[3]}`}`;
        // Reference: compare (major, minor, patch, rc-or-infinity) as numbers.
        const key = (x: typeof a) => [x[0], x[1], x[2], x[3] ?? Number.POSITIVE_INFINITY];
        const [ka, kb] = [key(a), key(b)];
        const i = ka.findIndex((n, j) => n !== kb[j]);
        const expected = i < 0 ? 0 : Math.sign((ka[i] ?? 0) - (kb[i] ?? 0));
        expect(Math.sign(compareKernelVersions(v(text(a)), v(text(b))))).toBe(expected);
      }),
      { numRuns: 500 },
    );
  });
});

describe('versionFromRelease', () => {
  it.each([
    ['6.1.0-56-cloud-amd64', '6.1.0'],
    ['6.18.44-edera-zone', '6.18.44'],
    ['7.3.0-rc3', '7.3.0-rc3'],
    ['7.3.0-rc3-edera-zone', '7.3.0-rc3'],
    ['6.12.59-linuxkit', '6.12.59'],
    ['6.1.10', '6.1.10'],
    ['6.1.10+', '6.1.10'],
    ['2.6.32.71-generic', '2.6.32.71'],
  ])('%s → %s', (release, version) => {
    expect(versionFromRelease(release)).toBe(version);
  });

  it.each(['', 'linux', '6.1', '6.1-rc3', 'v6.1.0', '6.01.0-1-amd64', '1.2.3.4.5'])(
    '%j has no X.Y.Z prefix',
    (release) => {
      expect(versionFromRelease(release)).toBeUndefined();
    },
  );
});

describe('parseKernelVersion fuzz (fast-check)', () => {
  it('never throws, and what parses keeps its text and compares equal to itself', () => {
    const piece = fc.oneof(
      fc.constantFrom('6', '.', '10', '-', 'rc', '3', 'nvidia', '0', '_'),
      fc.string({ maxLength: 4 }),
    );
    fc.assert(
      fc.property(fc.array(piece, { maxLength: 12 }), (pieces) => {
        const text = pieces.join('');
        const parsed = parseKernelVersion(text);
        if (parsed !== undefined) {
          expect(parsed.text).toBe(text);
          expect(compareKernelVersions(parsed, parsed)).toBe(0);
          expect(parsed.numbers.every((n) => Number.isSafeInteger(n) && n >= 0)).toBe(true);
        }
        const version = versionFromRelease(text);
        if (version !== undefined) expect(text.startsWith(version)).toBe(true);
      }),
      { numRuns: 2000 },
    );
  });
});
