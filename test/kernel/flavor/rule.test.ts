import { describe, expect, it } from 'vitest';
import { parseKernelConfig } from '../../../src/kernel/config/index.ts';
import { describeActual, parseRule, ruleHolds } from '../../../src/kernel/flavor/index.ts';
import type { Rule } from '../../../src/kernel/flavor/index.ts';

// One small real .config (parsed by the real parser) holding every kind of value a rule can meet.
const CONFIG = parseKernelConfig(
  [
    'CONFIG_BUILTIN=y',
    'CONFIG_MODULE=m',
    'CONFIG_NO=n',
    '# CONFIG_UNSET is not set',
    'CONFIG_STR="-edera \\"zone\\""',
    'CONFIG_DEC=512',
    'CONFIG_HEX=0x1000',
    'CONFIG_NEG=-3',
    '',
  ].join('\n'),
  'test.config',
);
const SYMBOLS = [
  'CONFIG_BUILTIN',
  'CONFIG_MODULE',
  'CONFIG_NO',
  'CONFIG_UNSET',
  'CONFIG_STR',
  'CONFIG_DEC',
  'CONFIG_HEX',
  'CONFIG_NEG',
  'CONFIG_ABSENT',
];

function rule(text: string): Rule {
  const parsed = parseRule(text);
  if (!parsed.ok) throw new Error(parsed.problem);
  return parsed.rule;
}

/** The symbols of CONFIG that satisfy a rule. */
function holders(text: string): string[] {
  const parsed = rule(text);
  return SYMBOLS.filter((symbol) => ruleHolds(parsed, CONFIG.get(symbol)));
}

describe('rules', () => {
  it('y holds only for built in', () => {
    expect(rule('y')).toEqual({ kind: 'y' });
    expect(holders('y')).toEqual(['CONFIG_BUILTIN']);
  });
  it('m holds for a module or built in', () => {
    expect(holders('m')).toEqual(['CONFIG_BUILTIN', 'CONFIG_MODULE']);
  });
  it('n holds for =n, "is not set" and absent', () => {
    expect(holders('n')).toEqual(['CONFIG_NO', 'CONFIG_UNSET', 'CONFIG_ABSENT']);
  });
  it('a quoted string holds only for exactly that string, escapes included', () => {
    expect(rule('"-edera \\"zone\\""')).toEqual({ kind: 'string', value: '-edera "zone"' });
    expect(holders('"-edera \\"zone\\""')).toEqual(['CONFIG_STR']);
    expect(holders('"-edera"')).toEqual([]);
    expect(holders('"512"')).toEqual([]);
  });
  it('a number holds for the same value, decimal or hex either side', () => {
    expect(rule('0x200')).toEqual({ kind: 'number', value: 512n });
    expect(holders('512')).toEqual(['CONFIG_DEC']);
    expect(holders('0x200')).toEqual(['CONFIG_DEC']);
    expect(holders('4096')).toEqual(['CONFIG_HEX']);
    expect(holders('-3')).toEqual(['CONFIG_NEG']);
    expect(holders('511')).toEqual([]);
  });
  it('>=N and <=N compare numbers only, bounds included', () => {
    expect(rule('>=512')).toEqual({ kind: 'at-least', value: 512n });
    expect(rule('<= 0x10')).toEqual({ kind: 'at-most', value: 16n });
    expect(holders('>=512')).toEqual(['CONFIG_DEC', 'CONFIG_HEX']);
    expect(holders('>=513')).toEqual(['CONFIG_HEX']);
    expect(holders('<=512')).toEqual(['CONFIG_DEC', 'CONFIG_NEG']);
    expect(holders('<=0x1000')).toEqual(['CONFIG_DEC', 'CONFIG_HEX', 'CONFIG_NEG']);
  });
  it('alternatives hold when any one does; a bar inside quotes is part of the string', () => {
    expect(holders('y|n')).toEqual(['CONFIG_BUILTIN', 'CONFIG_NO', 'CONFIG_UNSET', 'CONFIG_ABSENT']);
    expect(holders('512 | "-edera \\"zone\\""')).toEqual(['CONFIG_STR', 'CONFIG_DEC']);
    expect(rule('"a|b"')).toEqual({ kind: 'string', value: 'a|b' });
    expect(rule('"a"|m')).toEqual({
      kind: 'any',
      alternatives: [{ kind: 'string', value: 'a' }, { kind: 'm' }],
    });
  });
  it('unknown syntax is a problem naming the rule and the accepted forms', () => {
    const help =
      'expected y, m, n, a "quoted string", a number (decimal or 0x hex), >=N, <=N, or alternatives such as y|m';
    expect(parseRule('yes')).toEqual({ ok: false, problem: `unknown rule "yes"; ${help}` });
    expect(parseRule('')).toEqual({ ok: false, problem: `empty rule; ${help}` });
    expect(parseRule('y|')).toEqual({
      ok: false,
      problem: `unknown rule "y|": the alternative "" is not a rule; ${help}`,
    });
    for (const bad of ['Y', '>512', '>=', '>=x', '0x', '"open', '"a"b"', '"bad\\n"', '1.5', 'y m', '=y']) {
      expect(parseRule(bad).ok, bad).toBe(false);
    }
  });
  it('describes actual values as a person reads them', () => {
    expect(SYMBOLS.map((symbol) => describeActual(CONFIG.get(symbol)))).toEqual([
      'y',
      'm',
      'n',
      'not set',
      '"-edera \\"zone\\""',
      '512',
      '0x1000',
      '-3',
      'absent',
    ]);
  });
});
