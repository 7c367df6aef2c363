import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { KartError } from '../../../src/errors.ts';
import {
  compareKernelVersions,
  immutableTagFor,
  isImmutableTagMove,
  looksLikeImmutableTag,
  parseKernelVersion,
  planTags,
  refuseImmutableTagMoves,
  type KernelVersion,
  type PlannedTag,
  type TagPlanInput,
} from '../../../src/kernel/tags/index.ts';

/** A KERNEL_CONFIG value that differs per label, as a real .config digest would. */
function configOf(label: string): string {
  return `sha256:${createHash('sha256').update(label).digest('hex')}`;
}
function c12(label: string): string {
  return configOf(label).slice('sha256:'.length, 'sha256:'.length + 12);
}

/** The registry's tag set, simulated: tag → the version whose content it points at. */
function publish(
  registry: Map<string, string>,
  version: string,
  extra: Partial<TagPlanInput> = {},
): PlannedTag[] {
  const plan = planTags({
    version,
    configDigest: configOf(version),
    existingTags: registry.keys(),
    ...extra,
  });
  for (const { tag } of plan.tags) registry.set(tag, version);
  return plan.tags;
}
function snapshot(registry: Map<string, string>): Record<string, string> {
  return Object.fromEntries([...registry].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

function expectKartError(fn: () => unknown, code: string, message: string): KartError {
  let caught: unknown;
  try {
    fn();
  } catch (error) {
    caught = error;
  }
  expect(caught).toBeInstanceOf(KartError);
  const error = caught as KartError;
  expect({ code: error.code, message: error.message }).toEqual({ code, message });
  return error;
}

describe('planTags: the issue proof sequence, tag → version after each step', () => {
  const registry = new Map<string, string>();
  const steps: Array<[string, Record<string, string>]> = [
    [
      '6.1.10',
      {
        '6': '6.1.10',
        '6.1': '6.1.10',
        '6.1.10': '6.1.10',
        [`6.1.10-${c12('6.1.10')}`]: '6.1.10',
        latest: '6.1.10',
      },
    ],
    [
      // an older patch release: its own tags only; 6.1, 6 and latest stay on 6.1.10
      '6.1.9',
      {
        '6': '6.1.10',
        '6.1': '6.1.10',
        '6.1.10': '6.1.10',
        [`6.1.10-${c12('6.1.10')}`]: '6.1.10',
        '6.1.9': '6.1.9',
        [`6.1.9-${c12('6.1.9')}`]: '6.1.9',
        latest: '6.1.10',
      },
    ],
    [
      // a new series: takes 6 and latest, and 6.2, but not 6.1
      '6.2.1',
      {
        '6': '6.2.1',
        '6.1': '6.1.10',
        '6.1.10': '6.1.10',
        [`6.1.10-${c12('6.1.10')}`]: '6.1.10',
        '6.1.9': '6.1.9',
        [`6.1.9-${c12('6.1.9')}`]: '6.1.9',
        '6.2': '6.2.1',
        '6.2.1': '6.2.1',
        [`6.2.1-${c12('6.2.1')}`]: '6.2.1',
        latest: '6.2.1',
      },
    ],
    ['6.9.5', {}],
    ['6.10.0', {}],
    ['7.3.0-rc3', {}],
    ['7.3.0', {}],
    ['6.10.1', {}],
  ];
  // Later steps are written as changes to the previous map, to keep the table readable.
  const changes: Record<string, Record<string, string>> = {
    '6.9.5': {
      '6': '6.9.5',
      '6.9': '6.9.5',
      '6.9.5': '6.9.5',
      [`6.9.5-${c12('6.9.5')}`]: '6.9.5',
      latest: '6.9.5',
    },
    // 6.10 > 6.9 in kernel order (a string comparison would say otherwise)
    '6.10.0': {
      '6': '6.10.0',
      '6.10': '6.10.0',
      '6.10.0': '6.10.0',
      [`6.10.0-${c12('6.10.0')}`]: '6.10.0',
      latest: '6.10.0',
    },
    // a prerelease: its version and immutable tags only; no 7.3, no 7, no latest
    '7.3.0-rc3': { '7.3.0-rc3': '7.3.0-rc3', [`7.3.0-rc3-${c12('7.3.0-rc3')}`]: '7.3.0-rc3' },
    // the release after its rc takes every alias
    '7.3.0': {
      '7': '7.3.0',
      '7.3': '7.3.0',
      '7.3.0': '7.3.0',
      [`7.3.0-${c12('7.3.0')}`]: '7.3.0',
      latest: '7.3.0',
    },
    // a fix in an older major: its series and major, not latest
    '6.10.1': { '6': '6.10.1', '6.10': '6.10.1', '6.10.1': '6.10.1', [`6.10.1-${c12('6.10.1')}`]: '6.10.1' },
  };
  let expected: Record<string, string> = {};
  for (const [version, full] of steps) {
    expected = Object.keys(full).length > 0 ? full : { ...expected, ...changes[version] };
    const want = snapshot(new Map(Object.entries(expected)));
    it(`publish ${version}`, () => {
      publish(registry, version);
      expect(snapshot(registry)).toEqual(want);
    });
  }
});

describe('planTags: what each tag is and why', () => {
  it('lists the tags in policy order with reasons and immutability', () => {
    const plan = planTags({
      version: '6.1.10',
      configDigest: configOf('x'),
      existingTags: ['6.1.9', 'stable', 'latest', '6.1', '6'],
      extraTags: ['stable', 'lts'],
      template: [
        { template: '{version}-{configVersion}' },
        { template: 'lk-{version}-{hash}', immutable: true },
      ],
      templateValues: { configVersion: '83', hash: 'abc123' },
    });
    expect(plan.version.text).toBe('6.1.10');
    expect(plan.tags).toEqual([
      { tag: '6.1.10', reason: 'version', immutable: false },
      { tag: '6.1', reason: 'series', immutable: false },
      { tag: '6', reason: 'major', immutable: false },
      { tag: 'latest', reason: 'latest', immutable: false },
      { tag: `6.1.10-${c12('x')}`, reason: 'immutable', immutable: true },
      { tag: 'stable', reason: 'extra', immutable: false },
      { tag: 'lts', reason: 'extra', immutable: false },
      { tag: '6.1.10-83', reason: 'template', immutable: false },
      { tag: 'lk-6.1.10-abc123', reason: 'template', immutable: true },
    ]);
  });

  it('--no-alias keeps the version, the immutable tag and extras only', () => {
    const plan = planTags({
      version: '6.1.10',
      configDigest: configOf('x'),
      existingTags: [],
      noAlias: true,
      extraTags: ['ci'],
    });
    expect(plan.tags.map((t) => t.tag)).toEqual(['6.1.10', `6.1.10-${c12('x')}`, 'ci']);
  });

  it('built-in template placeholders expand from the version and config', () => {
    const plan = planTags({
      version: '6.18.44',
      configDigest: configOf('y'),
      existingTags: [],
      noAlias: true,
      template: 'k{major}_{minor}_{patch}-s{series}-{config12}-{config}',
    });
    const hex = configOf('y').slice(7);
    expect(plan.tags.at(-1)).toEqual({
      tag: `k6_18_44-s6.18-${hex.slice(0, 12)}-${hex}`,
      reason: 'template',
      immutable: false,
    });
  });

  it('a duplicate keeps its first place, and is immutable if any request says so', () => {
    const plan = planTags({
      version: '6.1.10',
      configDigest: configOf('x'),
      existingTags: [],
      noAlias: true,
      extraTags: ['6.1.10', `6.1.10-${c12('x')}`],
      template: [{ template: '{version}', immutable: true }],
    });
    expect(plan.tags).toEqual([
      { tag: '6.1.10', reason: 'version', immutable: true },
      { tag: `6.1.10-${c12('x')}`, reason: 'immutable', immutable: true },
    ]);
  });

  it('republishing the highest version keeps its aliases (V counts as highest against itself)', () => {
    const plan = planTags({
      version: '6.1.10',
      configDigest: configOf('new'),
      existingTags: ['6.1.10', '6.1.9', '6.1', '6', 'latest'],
    });
    expect(plan.tags.map((t) => t.reason)).toEqual(['version', 'series', 'major', 'latest', 'immutable']);
  });

  it('ignores tags that are not releases: aliases, immutables, names, prereleases, other variants', () => {
    const plan = planTags({
      version: '6.1.10',
      configDigest: configOf('x'),
      existingTags: [
        '6.9',
        '7',
        'latest',
        'stable',
        'v9.9.9',
        `6.1.99-${c12('q')}`,
        '6.2.0-rc1',
        '6.18.44-nvidia-595.91.07',
      ],
    });
    expect(plan.tags.map((t) => t.tag)).toEqual(['6.1.10', '6.1', '6', 'latest', `6.1.10-${c12('x')}`]);
  });

  it('a prerelease does not hold the aliases: 6.10.5 after 6.11.0-rc1 takes 6 and latest', () => {
    const plan = planTags({
      version: '6.10.5',
      configDigest: configOf('x'),
      existingTags: ['6.11.0-rc1', '6.10.4'],
    });
    expect(plan.tags.map((t) => t.tag)).toEqual(['6.10.5', '6.10', '6', 'latest', `6.10.5-${c12('x')}`]);
  });

  it('a variant takes its own suffixed aliases, competing only with its own variant', () => {
    const registry = new Map<string, string>([
      ['6.18.50', '6.18.50'],
      ['6.18', '6.18.50'],
      ['6', '6.18.50'],
      ['latest', '6.18.50'],
      ['6.18.40-nvidia-595.91.07', '6.18.40-nvidia-595.91.07'],
      ['6.18.99-nvidia-610.57.04', '6.18.99-nvidia-610.57.04'],
    ]);
    const tags = publish(registry, '6.18.44-nvidia-595.91.07');
    expect(tags.map((t) => [t.tag, t.reason])).toEqual([
      ['6.18.44-nvidia-595.91.07', 'version'],
      ['6.18-nvidia-595.91.07', 'series'],
      ['6-nvidia-595.91.07', 'major'],
      ['latest-nvidia-595.91.07', 'latest'],
      [`6.18.44-nvidia-595.91.07-${c12('6.18.44-nvidia-595.91.07')}`, 'immutable'],
    ]);
    // the plain line is untouched
    expect([registry.get('6.18'), registry.get('6'), registry.get('latest')]).toEqual([
      '6.18.50',
      '6.18.50',
      '6.18.50',
    ]);
    // an older build of the variant takes nothing moving
    expect(publish(registry, '6.18.41-nvidia-595.91.07').map((t) => t.reason)).toEqual([
      'version',
      'immutable',
    ]);
  });
});

describe('planTags: errors', () => {
  const base = { configDigest: configOf('x'), existingTags: [] as string[] };

  it.each([
    [
      '6.1',
      'version "6.1" is not a kernel release version (MAJOR.MINOR.PATCH, optionally -rcN and a -variant)',
      'e.g. 6.1.0',
    ],
    [
      'latest',
      'version "latest" is not a kernel release version (MAJOR.MINOR.PATCH, optionally -rcN and a -variant)',
      '6.1.10',
    ],
  ])('VERSION_INVALID for %j', (version, message, hintPart) => {
    const error = expectKartError(() => planTags({ ...base, version }), 'VERSION_INVALID', message);
    expect(error.hint).toContain(hintPart);
    expect(error.exitCode).toBe(2);
  });

  it.each(['sha256:ABC', 'sha512:' + 'a'.repeat(64), 'a'.repeat(64), 'sha256:' + 'A'.repeat(64)])(
    'CONFIG_DIGEST_INVALID for %j',
    (configDigest) => {
      expectKartError(
        () => planTags({ ...base, version: '6.1.10', configDigest }),
        'CONFIG_DIGEST_INVALID',
        `config digest "${configDigest}" is not sha256:<64 hex>`,
      );
    },
  );

  it.each(['-x', '.x', 'a b', 'a/b', 'ä', '', 'x'.repeat(129)])('TAG_INVALID names a bad --tag %j', (tag) => {
    const error = expectKartError(
      () => planTags({ ...base, version: '6.1.10', extraTags: [tag] }),
      'TAG_INVALID',
      `--tag: "${tag}" is not a valid OCI tag`,
    );
    expect(error.details).toEqual({ tag });
  });

  it('TAG_INVALID when the immutable tag would be longer than 128 characters', () => {
    const version = `6.1.10-${'v'.repeat(115)}`;
    expectKartError(
      () => planTags({ ...base, version }),
      'TAG_INVALID',
      `immutable tag of ${version}: "${version}-${c12('x')}" is not a valid OCI tag`,
    );
  });

  it.each([
    ['6.1.11', '--tag: "6.1.11" reads as another kernel release than 6.1.10'],
    ['6.1.10-rc1', '--tag: "6.1.10-rc1" reads as another kernel release than 6.1.10'],
    ['7.0.0-lts', '--tag: "7.0.0-lts" reads as another kernel release than 6.1.10'],
  ])('TAG_INVALID for an extra tag %j that names another release', (tag, message) => {
    expectKartError(() => planTags({ ...base, version: '6.1.10', extraTags: [tag] }), 'TAG_INVALID', message);
  });

  it('allows extras that stand for V (6.1.10-lts, the alias 6.1) and refuses a plain tag for a variant', () => {
    const plan = planTags({ ...base, version: '6.1.10', noAlias: true, extraTags: ['6.1.10-lts', '6.1'] });
    expect(plan.tags.map((t) => t.tag)).toContain('6.1.10-lts');
    expectKartError(
      () => planTags({ ...base, version: '6.18.44-nvidia-595.91.07', extraTags: ['6.18.44'] }),
      'TAG_INVALID',
      '--tag: "6.18.44" reads as another kernel release than 6.18.44-nvidia-595.91.07',
    );
  });

  it.each([
    [
      '{version}-{configVersion}',
      {},
      'tag template "{version}-{configVersion}": has no value for {configVersion}',
    ],
    ['{version', {}, 'tag template "{version": has a "{" or "}" that is not part of a {name} placeholder'],
    ['x-}', {}, 'tag template "x-}": has a "{" or "}" that is not part of a {name} placeholder'],
    ['{1x}', {}, 'tag template "{1x}": has a "{" or "}" that is not part of a {name} placeholder'],
    ['', {}, 'tag template "": is empty'],
    ['{version}', { version: '1' }, 'template value "version" is built in and cannot be supplied'],
  ])('TAG_TEMPLATE_INVALID for %j', (template, templateValues, message) => {
    expectKartError(
      () => planTags({ ...base, version: '6.1.10', template, templateValues }),
      'TAG_TEMPLATE_INVALID',
      message,
    );
  });

  it('TAG_INVALID names the tag a template makes', () => {
    expectKartError(
      () =>
        planTags({
          ...base,
          version: '6.1.10',
          template: '{version}+{flavor}',
          templateValues: { flavor: 'zone' },
        }),
      'TAG_INVALID',
      'tag template "{version}+{flavor}": "6.1.10+zone" is not a valid OCI tag',
    );
    expectKartError(
      () => planTags({ ...base, version: '6.1.10', template: '{major}.{minor}.99' }),
      'TAG_INVALID',
      'tag template "{major}.{minor}.99": "6.1.99" reads as another kernel release than 6.1.10',
    );
  });
});

describe('immutable tags', () => {
  const sha = (label: string) => `sha256:${createHash('sha256').update(label).digest('hex')}`;
  const immutable: PlannedTag = { tag: '6.1.10-0123456789ab', reason: 'immutable', immutable: true };
  const moving: PlannedTag = { tag: '6.1', reason: 'series', immutable: false };

  it('names V-<config12> and recognises the shape', () => {
    expect(immutableTagFor('6.1.10', configOf('x'))).toBe(`6.1.10-${c12('x')}`);
    expect(looksLikeImmutableTag(`6.1.10-${c12('x')}`)).toBe(true);
    expect(looksLikeImmutableTag(`6.18.44-nvidia-595.91.07-${c12('x')}`)).toBe(true);
    expect(looksLikeImmutableTag('6.1.10')).toBe(false);
    expect(looksLikeImmutableTag('6.1.10-lts')).toBe(false);
    expect(looksLikeImmutableTag(`6.1-${c12('x')}`)).toBe(false);
  });

  it('a move is an immutable tag pointing elsewhere; new tags and same content are not moves', () => {
    expect(isImmutableTagMove({ tag: immutable, current: sha('a'), next: sha('b') })).toBe(true);
    expect(isImmutableTagMove({ tag: immutable, current: sha('a'), next: sha('a') })).toBe(false);
    expect(isImmutableTagMove({ tag: immutable, current: undefined, next: sha('b') })).toBe(false);
    expect(isImmutableTagMove({ tag: moving, current: sha('a'), next: sha('b') })).toBe(false);
  });

  it('refuseImmutableTagMoves throws TAG_IMMUTABLE naming the tag, unless forced', () => {
    const moves = [
      { tag: moving, current: sha('a'), next: sha('b') },
      { tag: immutable, current: sha('a'), next: sha('b') },
    ];
    const error = expectKartError(
      () => refuseImmutableTagMoves(moves),
      'TAG_IMMUTABLE',
      `immutable tag would move: 6.1.10-0123456789ab (${sha('a')} → ${sha('b')})`,
    );
    expect(error.hint).toContain('--force');
    expect(() => refuseImmutableTagMoves(moves, { force: true })).not.toThrow();
    expect(() => refuseImmutableTagMoves([moves[0]!])).not.toThrow();
  });
});

describe('planTags properties (fast-check)', () => {
  const release = fc
    .tuple(
      fc.integer({ min: 5, max: 7 }),
      fc.integer({ min: 0, max: 11 }),
      fc.integer({ min: 0, max: 120 }),
      fc.option(fc.integer({ min: 1, max: 8 }), { nil: undefined, freq: 4 }),
      fc.option(fc.constantFrom('nvidia-595.91.07', 'nvidia-610.57.04'), { nil: undefined, freq: 4 }),
    )
    .map(
      ([major, minor, patch, rc, variant]) =>
        `${major}.${minor}.${patch}${rc === undefined ? '' : `-rc${rc}`}${variant === undefined ? '' : `-${variant}`}`,
    );

  function max(versions: string[]): string | undefined {
    const parsed = versions.map((t) => parseKernelVersion(t) as KernelVersion);
    return parsed.sort(compareKernelVersions).at(-1)?.text;
  }

  it('after any publish order, every alias is held by the highest release of its group', () => {
    fc.assert(
      fc.property(fc.array(release, { minLength: 1, maxLength: 25 }), (order) => {
        const registry = new Map<string, string>();
        for (const version of order) publish(registry, version);
        const published = [...new Set(order)];
        for (const version of published) expect(registry.get(version)).toBe(version);
        for (const variant of [undefined, 'nvidia-595.91.07', 'nvidia-610.57.04']) {
          const suffix = variant === undefined ? '' : `-${variant}`;
          const line = published.filter((t) => {
            const p = parseKernelVersion(t) as KernelVersion;
            return p.variant === variant && p.rc === undefined;
          });
          expect(registry.get(`latest${suffix}`)).toBe(max(line));
          for (const major of [5, 6, 7]) {
            const inMajor = line.filter((t) => t.startsWith(`${major}.`));
            expect(registry.get(`${major}${suffix}`)).toBe(max(inMajor));
            for (let minor = 0; minor <= 11; minor++) {
              const inSeries = inMajor.filter((t) => t.startsWith(`${major}.${minor}.`));
              expect(registry.get(`${major}.${minor}${suffix}`)).toBe(max(inSeries));
            }
          }
        }
      }),
      { numRuns: 200 },
    );
  });

  it('the plan never changes with the order or noise of the existing tags', () => {
    fc.assert(
      fc.property(
        release,
        fc.array(fc.oneof(release, fc.constantFrom('latest', 'stable', '6', '6.1', 'x_y')), {
          maxLength: 20,
        }),
        (version, existing) => {
          const forward = planTags({ version, configDigest: configOf(version), existingTags: existing });
          const backward = planTags({
            version,
            configDigest: configOf(version),
            existingTags: [...existing].reverse(),
          });
          expect(backward).toEqual(forward);
          expect(forward.tags[0]).toEqual({ tag: version, reason: 'version', immutable: false });
          expect(forward.tags.filter((t) => t.immutable).map((t) => t.tag)).toEqual([
            immutableTagFor(version, configOf(version)),
          ]);
        },
      ),
      { numRuns: 300 },
    );
  });
});
