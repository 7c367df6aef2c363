import { readdirSync, readFileSync } from 'node:fs';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isKartError } from '../../../src/errors.ts';
import { parseFlavorFile, parseRule, SHIPPED_FLAVORS_DIR } from '../../../src/kernel/flavor/index.ts';

/** Fuzzing the flavor reader: whatever the input, it parses or raises a KartError naming file and line. */

function parsesOrKartError(text: string): void {
  try {
    const contents = parseFlavorFile(text, 'fuzz', 'fuzz.ini');
    for (const rule of contents.rules) expect(rule.symbol).toMatch(/^CONFIG_[A-Za-z0-9_]+$/);
  } catch (error) {
    if (!isKartError(error)) throw error;
    expect(error.code).toMatch(/^FLAVOR_[A-Z_]+$/);
    expect(error.message).toMatch(/^fuzz\.ini:[1-9][0-9]*: /);
    expect(error.exitCode).toBe(2);
  }
}

const shippedLines = readdirSync(SHIPPED_FLAVORS_DIR)
  .filter((name) => name.endsWith('.ini'))
  .flatMap((name) => readFileSync(`${SHIPPED_FLAVORS_DIR}/${name}`, 'utf8').split('\n'));

// A line from a shipped file, mutated: a character inserted, deleted or replaced somewhere.
const mutatedLine = fc
  .tuple(
    fc.constantFrom(...shippedLines),
    fc.nat(),
    fc.constantFrom('insert', 'delete', 'replace', 'keep'),
    fc.constantFrom(
      '=',
      '|',
      '"',
      '\\',
      '[',
      ']',
      '#',
      ';',
      ',',
      '>',
      '<',
      ' ',
      'x',
      '0',
      '\r',
      '\u0000',
      'é',
    ),
  )
  .map(([line, at, op, char]) => {
    const i = line.length === 0 ? 0 : at % line.length;
    if (op === 'insert') return line.slice(0, i) + char + line.slice(i);
    if (op === 'delete') return line.slice(0, i) + line.slice(i + 1);
    if (op === 'replace') return line.slice(0, i) + char + line.slice(i + 1);
    return line;
  });

describe('flavor reader fuzz', () => {
  it('random bytes parse or raise a KartError', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 400 }), (bytes) => {
        parsesOrKartError(Buffer.from(bytes).toString('utf8'));
      }),
      { numRuns: 500 },
    );
  });

  it('random text made of INI punctuation parses or raises a KartError', () => {
    const piece = fc.constantFrom(
      '[require]',
      '[recommend]',
      'CONFIG_A',
      '=',
      ' ',
      '\n',
      '"',
      '|',
      'y',
      'm',
      '>=',
      '0x1f',
      '#',
      'extends',
      ',',
      'a',
    );
    fc.assert(
      fc.property(fc.array(piece, { maxLength: 60 }), (pieces) => {
        parsesOrKartError(pieces.join(''));
      }),
      { numRuns: 500 },
    );
  });

  it('shipped files with mutated, shuffled lines parse or raise a KartError', () => {
    fc.assert(
      fc.property(fc.array(mutatedLine, { minLength: 1, maxLength: 40 }), (lines) => {
        parsesOrKartError(lines.join('\n'));
      }),
      { numRuns: 500 },
    );
  });

  it('any rule text parses or yields a problem, never throws', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 40 }), (text) => {
        const parsed = parseRule(text);
        if (!parsed.ok) expect(parsed.problem.length).toBeGreaterThan(0);
      }),
      { numRuns: 1000 },
    );
  });
});
