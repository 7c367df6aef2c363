import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { readFileSync } from 'node:fs';
import { Readable } from 'node:stream';
import { gzipSync } from 'node:zlib';
import { isKartError } from '../../../src/errors.ts';
import {
  formatConfigLine,
  formatConfigValue,
  mergeKernelConfigs,
  parseKernelConfig,
  readKernelConfig,
  sameConfigValue,
  serializeKernelConfig,
  splitKernelConfigs,
  verifyFragments,
  type ConfigValue,
  type KernelConfig,
} from '../../../src/kernel/config/index.ts';
import { debianKernelPaths } from '../../support/debian-kernels.ts';

// A small symbol pool, so generated configs overlap, override and collide often.
const name = fc.constantFrom(
  'CONFIG_A',
  'CONFIG_B',
  'CONFIG_XEN',
  'CONFIG_HZ',
  'CONFIG_LOCALVERSION',
  'CONFIG_9P_FS',
);
const value: fc.Arbitrary<ConfigValue> = fc.oneof(
  fc.constantFrom<ConfigValue>(
    { kind: 'tristate', value: 'y' },
    { kind: 'tristate', value: 'm' },
    { kind: 'tristate', value: 'n' },
    { kind: 'unset' },
  ),
  fc.string({ maxLength: 8 }).map((value): ConfigValue => ({ kind: 'string', value })),
  fc
    .bigInt({ min: -5n, max: 300n })
    .map((value): ConfigValue => ({ kind: 'number', value, text: String(value) })),
  fc
    .bigInt({ min: 0n, max: 300n })
    .map((value): ConfigValue => ({ kind: 'number', value, text: `0x${value.toString(16)}` })),
);
const entry = fc.record({ name, value });
/** entries with distinct names, as a generated config's content */
const entries = fc.uniqueArray(entry, { selector: (e) => e.name, maxLength: 6 });

const key = (e: { name: string; value: ConfigValue }) => `${e.name}=${formatConfigValue(e.value)}`;
const keys = (c: KernelConfig) => new Set([...c.entries()].map(key));

describe('properties', () => {
  it('serialize(parse(x)) == x, for any mix of entries, comments, blank lines, LF, CRLF and a missing last newline', () => {
    const line = fc.oneof(
      entry.map((e) => formatConfigLine(e.name, e.value)),
      fc.string({ maxLength: 12 }).map((s) => `#${s.replace(/[\r\n]/g, '')}`),
      fc.constantFrom('', '   ', '\t'),
    );
    const eol = fc.constantFrom('\n', '\r\n');
    fc.assert(
      fc.property(fc.array(fc.tuple(line, eol), { maxLength: 12 }), fc.boolean(), (lines, dropLast) => {
        let text = lines.map(([l, e]) => l + e).join('');
        if (dropLast && lines.length > 0) text = text.slice(0, -lines.at(-1)![1].length);
        const config = parseKernelConfig(text, 'gen');
        expect(serializeKernelConfig(config)).toBe(text);
      }),
      { numRuns: 400 },
    );
  });

  it('a parsed value formats back to the text it was parsed from', () => {
    fc.assert(
      fc.property(entry, (e) => {
        const parsed = parseKernelConfig(`${formatConfigLine(e.name, e.value)}\n`, 'gen').get(e.name)!;
        expect(parsed.value).toEqual(e.value);
      }),
      { numRuns: 300 },
    );
  });

  it("split's outputs recombine to their inputs, and a config's part never repeats common", () => {
    fc.assert(
      fc.property(fc.array(entries, { minLength: 1, maxLength: 4 }), (inputs) => {
        const configs = inputs.map((es, i) =>
          parseKernelConfig(
            es.map((e) => `${key(e).replace(/^(CONFIG_\w+)=is not set$/, '# $1 is not set')}\n`).join(''),
            `c${i}`,
          ),
        );
        const split = splitKernelConfigs(configs);
        const common = keys(split.common);
        split.parts.forEach((part, i) => {
          const own = keys(part.config);
          expect([...own].filter((k) => common.has(k))).toEqual([]);
          expect(new Set([...common, ...own])).toEqual(keys(configs[i]!));
        });
      }),
      { numRuns: 300 },
    );
  });

  it('merge then verify-fragments reports exactly the overridden fragment values that the final config lost', () => {
    fc.assert(
      fc.property(entries, fc.array(entries, { minLength: 1, maxLength: 4 }), (baseEntries, fragEntries) => {
        const build = (source: string, es: Array<{ name: string; value: ConfigValue }>) =>
          parseKernelConfig(es.map((e) => `${formatConfigLine(e.name, e.value)}\n`).join(''), source);
        const base = build('base', baseEntries);
        const fragments = fragEntries.map((es, i) => build(`f${i}`, es));
        const merge = mergeKernelConfigs(base, fragments);
        const final = merge.config;
        const lost = verifyFragments(final, fragments).lost.map(
          (l) => `${l.requested.source}:${l.requested.line}`,
        );
        const fragmentOf = (source: string) => fragments.find((f) => f.source === source);
        const overridden = merge.overrides.flatMap((o) =>
          o.overridden
            .filter((origin) => fragmentOf(origin.source) !== undefined)
            .filter(() => !sameConfigValue(o.from, final.get(o.name)?.value))
            .map((origin) => `${origin.source}:${origin.line}`),
        );
        expect(new Set(lost)).toEqual(new Set(overridden));
        expect(lost.length).toBe(new Set(lost).size);
        // and with fragments that never disagree, nothing is lost
        if (
          merge.overrides.every((o) =>
            o.overridden.every((origin) => fragmentOf(origin.source) === undefined),
          )
        )
          expect(lost).toEqual([]);
      }),
      { numRuns: 300 },
    );
  });
});

describe('fuzz: any input parses or raises a KartError, nothing else', () => {
  const realLines = readFileSync(debianKernelPaths('cloud-amd64').config, 'utf8').split('\n').slice(0, 400);

  function parsesOrKartError(text: string): void {
    try {
      parseKernelConfig(text, 'fuzz');
    } catch (error) {
      if (!isKartError(error)) throw error;
      expect(error.code).toBe('CONFIG_INVALID');
    }
  }

  it('random strings, including binary and any Unicode', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          // code units 0..0xffff: control bytes, NULs, lone surrogates (fc's 'binary' unit is far slower)
          fc
            .array(fc.integer({ min: 0, max: 0xffff }), { maxLength: 200 })
            .map((units) => String.fromCharCode(...units)),
          fc.string({ unit: 'grapheme', maxLength: 200 }),
        ),
        parsesOrKartError,
      ),
      { numRuns: 1500 },
    );
  });

  it('real config lines with characters inserted, deleted and replaced', () => {
    const mutated = fc
      .tuple(
        fc.array(fc.constantFrom(...realLines), { minLength: 1, maxLength: 20 }),
        fc.array(
          fc.tuple(
            fc.nat(),
            fc.nat(3),
            fc.constantFrom('"', '\\', '=', '#', ' ', '\r', '\0', 'x', '0x', '\n', 'é'),
          ),
          { maxLength: 6 },
        ),
      )
      .map(([lines, edits]) => {
        let text = lines.join('\n');
        for (const [at, op, ch] of edits) {
          const i = text.length === 0 ? 0 : at % text.length;
          text =
            op === 0
              ? text.slice(0, i) + text.slice(i + 1)
              : op === 1
                ? text.slice(0, i) + ch + text.slice(i + 1)
                : text.slice(0, i) + ch + text.slice(i);
        }
        return text;
      });
    fc.assert(fc.property(mutated, parsesOrKartError), { numRuns: 1500 });
  });

  it('random bytes through the reader, plain and behind a gzip magic', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.uint8Array({ maxLength: 300 }),
        fc.constantFrom('plain', 'magic', 'gzip'),
        async (bytes, kind) => {
          const input =
            kind === 'plain'
              ? bytes
              : kind === 'magic'
                ? Buffer.concat([Buffer.from([0x1f, 0x8b]), bytes])
                : gzipSync(bytes);
          try {
            await readKernelConfig('-', { stdin: Readable.from([Buffer.from(input)]) });
          } catch (error) {
            if (!isKartError(error)) throw error;
            expect(error.code).toBe('CONFIG_INVALID');
          }
        },
      ),
      { numRuns: 300 },
    );
  });
});
