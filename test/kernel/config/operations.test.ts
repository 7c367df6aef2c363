import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KartError } from '../../../src/errors.ts';
import {
  diffKernelConfigs,
  mergeKernelConfigs,
  parseAllowList,
  parseKernelConfig,
  renderDiffText,
  renderMergeText,
  renderSplitText,
  renderVerifyText,
  serializeKernelConfig,
  splitKernelConfigs,
  verifyFragments,
  writeSplitFiles,
  verifyToJson,
  diffToJson,
} from '../../../src/kernel/config/index.ts';

const cfg = (source: string, ...lines: string[]) =>
  parseKernelConfig(lines.map((l) => `${l}\n`).join(''), source);

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'kart-config-ops-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('diffKernelConfigs', () => {
  const before = cfg(
    'a',
    'CONFIG_GONE=y',
    'CONFIG_SAME=m',
    'CONFIG_N=n',
    'CONFIG_HEX=0x10',
    '# CONFIG_C is not set',
  );
  const after = cfg(
    'b',
    'CONFIG_C=y',
    'CONFIG_SAME=m',
    '# CONFIG_N is not set',
    'CONFIG_HEX=16',
    'CONFIG_NEW="x"',
  );

  it('lists removed, added and changed symbols, sorted, comparing values as written', () => {
    const diff = diffKernelConfigs(before, after);
    expect(diff.removed.map((e) => e.name)).toEqual(['CONFIG_GONE']);
    expect(diff.added.map((e) => e.name)).toEqual(['CONFIG_NEW']);
    expect(diff.changed.map((c) => c.name)).toEqual(['CONFIG_C', 'CONFIG_HEX', 'CONFIG_N']);
    expect(renderDiffText(before, after, diff)).toBe(
      [
        '- CONFIG_GONE=y  (a:1)',
        '+ CONFIG_NEW="x"  (b:5)',
        '~ CONFIG_C: is not set -> y  (a:5, b:1)',
        '~ CONFIG_HEX: 0x10 -> 16  (a:4, b:4)',
        '~ CONFIG_N: n -> is not set  (a:3, b:3)',
        '5 differences: 1 removed, 1 added, 3 changed',
        '',
      ].join('\n'),
    );
    expect(diffToJson(before, after, diff).changed[0]).toEqual({
      name: 'CONFIG_C',
      before: 'is not set',
      after: 'y',
      beforeLine: 5,
      afterLine: 1,
    });
  });

  it('finds nothing between a config and itself', () => {
    const diff = diffKernelConfigs(before, before);
    expect(diff).toEqual({ added: [], removed: [], changed: [] });
    expect(renderDiffText(before, before, diff)).toBe('no differences between a and a\n');
  });
});

describe('splitKernelConfigs', () => {
  const x86 = cfg(
    'config-x86_64',
    'CONFIG_X86=y',
    'CONFIG_PCI=y',
    '# CONFIG_ARM64 is not set',
    'CONFIG_HZ=250',
  );
  const arm = cfg(
    'config-aarch64',
    'CONFIG_ARM64=y',
    'CONFIG_PCI=y',
    'CONFIG_HZ=250',
    '# CONFIG_X86 is not set',
  );

  it('separates the common pairs from each config’s own, sorted by symbol', () => {
    const split = splitKernelConfigs([x86, arm]);
    expect(renderSplitText(split)).toBe(
      [
        '# common (2 symbols)',
        'CONFIG_HZ=250',
        'CONFIG_PCI=y',
        '# config-x86_64 (2 symbols)',
        '# CONFIG_ARM64 is not set',
        'CONFIG_X86=y',
        '# config-aarch64 (2 symbols)',
        'CONFIG_ARM64=y',
        '# CONFIG_X86 is not set',
        '',
      ].join('\n'),
    );
  });

  it('writes split-common and split-<name> files', async () => {
    const out = join(dir, 'split-out');
    const written = await writeSplitFiles(splitKernelConfigs([x86, arm]), out);
    expect(written).toEqual([
      join(out, 'split-common'),
      join(out, 'split-config-x86_64'),
      join(out, 'split-config-aarch64'),
    ]);
    expect(readFileSync(join(out, 'split-common'), 'utf8')).toBe('CONFIG_HZ=250\nCONFIG_PCI=y\n');
    expect(readFileSync(join(out, 'split-config-aarch64'), 'utf8')).toBe(
      'CONFIG_ARM64=y\n# CONFIG_X86 is not set\n',
    );
  });

  it('CONFIG_SPLIT_NAME_CLASH when two inputs share a base name; nothing is written', async () => {
    const out = join(dir, 'clash');
    const a = cfg('one/config', 'CONFIG_A=y');
    const b = cfg('two/config', 'CONFIG_A=m');
    const error = await writeSplitFiles(splitKernelConfigs([a, b]), out).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(KartError);
    expect((error as KartError).code).toBe('CONFIG_SPLIT_NAME_CLASH');
    expect((error as KartError).exitCode).toBe(2);
    expect((error as KartError).message).toBe(
      'config split would write split-config for both one/config and two/config; nothing was written',
    );
    expect(existsSync(out)).toBe(false);
  });

  it('CONFIG_SPLIT_NO_INPUT without configs', () => {
    expect(() => splitKernelConfigs([])).toThrow('config split needs at least one config');
  });
});

describe('mergeKernelConfigs', () => {
  const base = cfg('base', 'CONFIG_A=y', 'CONFIG_B=m', '# CONFIG_C is not set', 'CONFIG_D=0x10');
  const f1 = cfg('f1.conf', 'CONFIG_B=y', 'CONFIG_C=n', 'CONFIG_E="x"');
  const f2 = cfg('f2.conf', 'CONFIG_B=n', 'CONFIG_D=16', 'CONFIG_A=y');

  it('applies fragments in order, later wins, moving each set symbol to the end', () => {
    const merge = mergeKernelConfigs(base, [f1, f2]);
    expect(serializeKernelConfig(merge.config)).toBe(
      'CONFIG_C=n\nCONFIG_E="x"\nCONFIG_B=n\nCONFIG_D=16\nCONFIG_A=y\n',
    );
    expect(merge.config.source).toBe('merged');
  });

  it('reports each override with every setting it replaces, and restatements as redundant', () => {
    const merge = mergeKernelConfigs(base, [f1, f2]);
    expect(merge.overrides).toEqual([
      {
        name: 'CONFIG_B',
        from: { kind: 'tristate', value: 'm' },
        to: { kind: 'tristate', value: 'y' },
        overridden: [{ source: 'base', line: 2 }],
        by: { source: 'f1.conf', line: 1 },
      },
      {
        name: 'CONFIG_B',
        from: { kind: 'tristate', value: 'y' },
        to: { kind: 'tristate', value: 'n' },
        overridden: [{ source: 'f1.conf', line: 1 }],
        by: { source: 'f2.conf', line: 1 },
      },
    ]);
    // `n` restates `is not set`, 16 restates 0x10: same meaning, so not overrides.
    expect(
      merge.redundant.map(
        (r) => `${r.name} ${r.already.source}:${r.already.line} ${r.by.source}:${r.by.line}`,
      ),
    ).toEqual(['CONFIG_C base:3 f1.conf:2', 'CONFIG_D base:4 f2.conf:2', 'CONFIG_A base:1 f2.conf:3']);
    expect(renderMergeText(merge, 2)).toBe(
      [
        'CONFIG_B: m (base:2) overridden by y (f1.conf:1)',
        'CONFIG_B: y (f1.conf:1) overridden by n (f2.conf:1)',
        'merged 2 fragments: 2 overrides, 3 redundant',
        '',
      ].join('\n'),
    );
  });

  it('passes on the inputs’ duplicate-symbol warnings', () => {
    const dup = cfg('dup.conf', 'CONFIG_Z=y', 'CONFIG_Z=m');
    expect(mergeKernelConfigs(base, [dup]).warnings.map((w) => w.message)).toEqual([
      'dup.conf:2: CONFIG_Z is set again (before on line 1); the value on line 2 wins',
    ]);
  });
});

describe('verifyFragments', () => {
  const final = cfg(
    'final',
    'CONFIG_A=y',
    '# CONFIG_B is not set',
    'CONFIG_C=m',
    'CONFIG_N=n',
    'CONFIG_H=0x20',
  );
  const frag = cfg(
    'frag.conf',
    'CONFIG_A=y', //      survives
    'CONFIG_B=y', //      lost: not set
    'CONFIG_C=y', //      lost: m
    'CONFIG_GONE=m', //   lost: absent
    '# CONFIG_N is not set', // survives as n
    'CONFIG_ABSENT_N=n', // survives as absent
    'CONFIG_H=32', //     survives: same number
  );

  it('reports every requested value that did not survive, by exact name', () => {
    const result = verifyFragments(final, [frag]);
    expect(result.checked).toBe(7);
    expect(result.lost.map((l) => l.name)).toEqual(['CONFIG_B', 'CONFIG_C', 'CONFIG_GONE']);
    expect(renderVerifyText(final, result)).toBe(
      [
        'CONFIG_B: requested y (frag.conf:2), final not set (final:2)',
        'CONFIG_C: requested y (frag.conf:3), final m (final:3)',
        'CONFIG_GONE: requested m (frag.conf:4), final absent from final',
        '3 of 7 requested values did not survive',
        '',
      ].join('\n'),
    );
    expect(verifyToJson(final, result).lost[2]).toEqual({
      name: 'CONFIG_GONE',
      requested: { source: 'frag.conf', line: 4, value: 'm' },
      actual: null,
    });
  });

  it('excuses exactly the allow-listed names, and reports unused entries', () => {
    const allow = parseAllowList(
      '# renamed upstream\n\nCONFIG_C   # m is fine\nCONFIG_GON\nCONFIG_B\n',
      'allow.txt',
    );
    const result = verifyFragments(final, [frag], allow);
    expect(result.lost.map((l) => l.name)).toEqual(['CONFIG_GONE']);
    expect(result.allowed.map((l) => l.name)).toEqual(['CONFIG_B', 'CONFIG_C']);
    expect(result.unusedAllowed).toEqual([{ name: 'CONFIG_GON', line: 4 }]);
    expect(renderVerifyText(final, result, 'allow.txt')).toBe(
      [
        'CONFIG_GONE: requested m (frag.conf:4), final absent from final',
        'allowed: CONFIG_B: requested y (frag.conf:2), final not set (final:2)',
        'allowed: CONFIG_C: requested y (frag.conf:3), final m (final:3)',
        'unused allow-list entry: CONFIG_GON (allow.txt:4)',
        '1 of 7 requested values did not survive (2 more allowed)',
        '',
      ].join('\n'),
    );
  });

  it('a blank line or a comment in the allow-list excuses nothing', () => {
    const allow = parseAllowList('\n\n   \n# CONFIG_B\n', 'allow.txt');
    expect(allow.names.size).toBe(0);
    expect(verifyFragments(final, [frag], allow).lost.length).toBe(3);
  });

  it('says so when everything survived', () => {
    expect(renderVerifyText(final, verifyFragments(final, [cfg('ok.conf', 'CONFIG_A=y')]))).toBe(
      'all 1 requested value survived\n',
    );
  });
});

describe('parseAllowList errors (CONFIG_ALLOWLIST_INVALID, exit 2)', () => {
  const cases: Array<[string, string]> = [
    [
      'CONFIG_MTRR.*\n',
      'allow.txt:1: expected one exact symbol name such as CONFIG_X86_SGX (a # comment may follow), but found "CONFIG_MTRR.*"',
    ],
    [
      '\nX86_SGX\n',
      'allow.txt:2: expected one exact symbol name such as CONFIG_X86_SGX (a # comment may follow), but found "X86_SGX"',
    ],
    [
      'CONFIG_A CONFIG_B\n',
      'allow.txt:1: expected one exact symbol name such as CONFIG_X86_SGX (a # comment may follow), but found "CONFIG_A CONFIG_B"',
    ],
  ];
  for (const [text, message] of cases) {
    it(`refuses ${JSON.stringify(text)}`, () => {
      let error: unknown;
      try {
        parseAllowList(text, 'allow.txt');
      } catch (e) {
        error = e;
      }
      expect(error).toBeInstanceOf(KartError);
      expect((error as KartError).code).toBe('CONFIG_ALLOWLIST_INVALID');
      expect((error as KartError).exitCode).toBe(2);
      expect((error as KartError).message).toBe(message);
    });
  }
});
