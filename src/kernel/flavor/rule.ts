import type { ConfigEntry } from '../config/types.ts';
import type { Rule } from './types.ts';

/**
 * The rule language of a flavor's `[require]`/`[recommend]` values, and how a rule judges one
 * `.config` entry. Parsing returns a problem text instead of throwing, so the flavor-file reader can
 * name the file and line in its own error.
 */

type SingleRule = Exclude<Rule, { kind: 'any' }>;

const DECIMAL = /^-?[0-9]+$/;
const HEX = /^0[xX][0-9a-fA-F]+$/;

export const RULE_SYNTAX_HELP =
  'expected y, m, n, a "quoted string", a number (decimal or 0x hex), >=N, <=N, or alternatives such as y|m';

function parseNumber(text: string): bigint | undefined {
  if (DECIMAL.test(text) || HEX.test(text)) return BigInt(text);
  return undefined;
}

/** Reads a Kconfig-style quoted string (only `\"` and `\\` are escapes), or undefined if it is not one. */
function parseQuoted(text: string): string | undefined {
  if (text.length < 2 || !text.startsWith('"') || !text.endsWith('"')) return undefined;
  let value = '';
  for (let i = 1; i < text.length - 1; i++) {
    const char = text[i];
    if (char === '\\') {
      const next = text[i + 1];
      if (i + 1 >= text.length - 1 || (next !== '"' && next !== '\\')) return undefined;
      value += next;
      i++;
    } else if (char === '"') {
      return undefined;
    } else {
      value += char;
    }
  }
  return value;
}

function parseSingle(text: string): SingleRule | undefined {
  if (text === 'y' || text === 'm' || text === 'n') return { kind: text };
  if (text.startsWith('"')) {
    const value = parseQuoted(text);
    return value === undefined ? undefined : { kind: 'string', value };
  }
  for (const [prefix, kind] of [
    ['>=', 'at-least'],
    ['<=', 'at-most'],
  ] as const) {
    if (text.startsWith(prefix)) {
      const value = parseNumber(text.slice(prefix.length).trim());
      return value === undefined ? undefined : { kind, value };
    }
  }
  const value = parseNumber(text);
  return value === undefined ? undefined : { kind: 'number', value };
}

/** Splits `a|b` on the bars that stand outside quoted strings. */
function splitAlternatives(text: string): string[] {
  const parts: string[] = [];
  let current = '';
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const char = text[i];
    if (quoted && char === '\\' && i + 1 < text.length) {
      current += char + text[i + 1];
      i++;
      continue;
    }
    if (char === '"') quoted = !quoted;
    if (char === '|' && !quoted) {
      parts.push(current.trim());
      current = '';
    } else {
      current += char;
    }
  }
  parts.push(current.trim());
  return parts;
}

export type RuleParse = { ok: true; rule: Rule } | { ok: false; problem: string };

export function parseRule(text: string): RuleParse {
  const trimmed = text.trim();
  if (trimmed === '') return { ok: false, problem: `empty rule; ${RULE_SYNTAX_HELP}` };
  const alternatives: SingleRule[] = [];
  for (const part of splitAlternatives(trimmed)) {
    const rule = part === '' ? undefined : parseSingle(part);
    if (rule === undefined) {
      return {
        ok: false,
        problem:
          part === trimmed
            ? `unknown rule ${JSON.stringify(trimmed)}; ${RULE_SYNTAX_HELP}`
            : `unknown rule ${JSON.stringify(trimmed)}: the alternative ${JSON.stringify(part)} is not a rule; ${RULE_SYNTAX_HELP}`,
      };
    }
    alternatives.push(rule);
  }
  const only = alternatives.length === 1 ? alternatives[0] : undefined;
  return { ok: true, rule: only ?? { kind: 'any', alternatives } };
}

/** Whether the entry (undefined when the symbol is absent from the .config) satisfies the rule. */
export function ruleHolds(rule: Rule, entry: ConfigEntry | undefined): boolean {
  const value = entry?.value;
  switch (rule.kind) {
    case 'y':
      return value?.kind === 'tristate' && value.value === 'y';
    case 'm':
      return value?.kind === 'tristate' && (value.value === 'y' || value.value === 'm');
    case 'n':
      return (
        value === undefined || value.kind === 'unset' || (value.kind === 'tristate' && value.value === 'n')
      );
    case 'string':
      return value?.kind === 'string' && value.value === rule.value;
    case 'number':
      return value?.kind === 'number' && value.value === rule.value;
    case 'at-least':
      return value?.kind === 'number' && value.value >= rule.value;
    case 'at-most':
      return value?.kind === 'number' && value.value <= rule.value;
    case 'any':
      return rule.alternatives.some((alternative) => ruleHolds(alternative, entry));
  }
}

/** The actual value as a person reads it: `y`, `"text"`, `0x10`, `not set`, or `absent`. */
export function describeActual(entry: ConfigEntry | undefined): string {
  const value = entry?.value;
  if (value === undefined) return 'absent';
  switch (value.kind) {
    case 'unset':
      return 'not set';
    case 'tristate':
      return value.value;
    case 'number':
      return value.text;
    case 'string':
      return `"${value.value.replace(/[\\"]/g, (c) => `\\${c}`)}"`;
  }
}
