import { spawnSync } from 'node:child_process';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { KartError } from '../../src/errors.ts';
import {
  array,
  boolean,
  checkShape,
  int,
  literal,
  looseObject,
  nullable,
  number,
  object,
  oneOf,
  optional,
  record,
  refine,
  ShapeMismatch,
  strictObject,
  string,
  type Shape,
} from '../../src/oci/json-shape.ts';
import { ImageManifestSchema, parseJson } from '../../src/oci/schema.ts';

const ROOT = resolve(import.meta.dirname, '../..');

/** The mismatch `shape` finds in `value`, as `path: reason`. */
function mismatch(shape: Shape<unknown>, value: unknown): string {
  const result = checkShape(shape, value);
  if (result.ok) throw new Error(`expected a mismatch, got ${JSON.stringify(result.value)}`);
  return `${result.mismatch.where}: ${result.mismatch.reason}`;
}

const DIGEST = `sha256:${'a'.repeat(64)}`;
const layer = (size: unknown) => ({ mediaType: 'application/x', digest: DIGEST, size });
const manifest = (layers: unknown[]) => JSON.stringify({ schemaVersion: 2, config: layer(2), layers });

describe('json-shape combinators: each failure message', () => {
  it.each([
    ['string, given a number', string(), 1, '(root): Invalid input: expected string, received number'],
    [
      'string, given nothing',
      string(),
      undefined,
      '(root): Invalid input: expected string, received undefined',
    ],
    ['string, given null', string(), null, '(root): Invalid input: expected string, received null'],
    ['string, given an array', string(), [], '(root): Invalid input: expected string, received array'],
    [
      'boolean, given a string',
      boolean(),
      'true',
      '(root): Invalid input: expected boolean, received string',
    ],
    ['number, given a string', number(), '1', '(root): Invalid input: expected number, received string'],
    [
      'number, given Infinity',
      number(),
      Infinity,
      '(root): Invalid input: expected number, received Infinity',
    ],
    ['int, given 1.5', int(), 1.5, '(root): Invalid input: expected int, received number'],
    ['int, given 2^53', int(), 2 ** 53, '(root): Too big: expected int to be <=9007199254740991'],
    ['int, given -2^53', int(), -(2 ** 53), '(root): Too small: expected int to be >=-9007199254740991'],
    ['int >= 0, given -1', int({ min: 0 }), -1, '(root): Too small: expected number to be >=0'],
    ['int <= 9, given 10', int({ max: 9 }), 10, '(root): Too big: expected number to be <=9'],
    ['literal 2, given 3', literal(2), 3, '(root): Invalid input: expected 2'],
    ['literal "scrypt"', literal('scrypt'), 'x', '(root): Invalid input: expected "scrypt"'],
    ['oneOf', oneOf(['a', 'b']), 'c', '(root): Invalid option: expected one of "a"|"b"'],
    ['oneOf, own message', oneOf(['a', 'b'], 'must be a or b'), 'c', '(root): must be a or b'],
    ['refine', refine(string(), (s) => s === 'ok', 'is not ok'), 'no', '(root): is not ok'],
    [
      'refine sees the inner check first',
      refine(string(), () => true, 'x'),
      2,
      '(root): Invalid input: expected string, received number',
    ],
    ['array, given an object', array(string()), {}, '(root): Invalid input: expected array, received object'],
    ['array item', array(number()), [1, 'x', 'y'], '1: Invalid input: expected number, received string'],
    [
      'record, given an array',
      record(string()),
      [],
      '(root): Invalid input: expected record, received array',
    ],
    [
      'record value',
      record(string()),
      { 'a.example': 1 },
      'a.example: Invalid input: expected string, received number',
    ],
    ['object, given null', object({}), null, '(root): Invalid input: expected object, received null'],
    ['object, given an array', looseObject({}), [], '(root): Invalid input: expected object, received array'],
    [
      'object field missing',
      object({ a: object({ b: number() }) }),
      {},
      'a: Invalid input: expected object, received undefined',
    ],
    [
      'nested path',
      object({ a: array(object({ b: int() })) }),
      { a: [{ b: 1 }, { b: 'x' }] },
      'a.1.b: Invalid input: expected number, received string',
    ],
    [
      'first field in shape order',
      looseObject({ a: string(), b: string() }),
      { b: 1, a: 2 },
      'a: Invalid input: expected string, received number',
    ],
    [
      'strict: one unknown key',
      strictObject({ a: string() }),
      { a: 'x', b: 1 },
      '(root): Unrecognized key: "b"',
    ],
    [
      'strict: several',
      strictObject({ a: string() }),
      { a: 'x', b: 1, c: 2 },
      '(root): Unrecognized keys: "b", "c"',
    ],
    [
      'optional is not nullable',
      optional(string()),
      null,
      '(root): Invalid input: expected string, received null',
    ],
    [
      'nullable is not optional',
      nullable(string()),
      undefined,
      '(root): Invalid input: expected string, received undefined',
    ],
  ] as const)('%s', (_name, shape, value, message) => {
    expect(mismatch(shape as Shape<unknown>, value)).toBe(message);
  });

  it('parse throws the ShapeMismatch; anything else a check throws passes through checkShape', () => {
    expect(() => string().parse(1)).toThrow(ShapeMismatch);
    const broken = refine(
      string(),
      () => {
        throw new RangeError('not a mismatch');
      },
      'x',
    );
    expect(() => checkShape(broken, 'a')).toThrow(RangeError);
  });

  it('accepts what fits: optional and nullable values, bounds inclusive', () => {
    const shape = object({
      a: optional(string()),
      b: nullable(int({ min: 0, max: 2 })),
      c: int({ min: 0, max: 2 }),
      d: literal(true),
    });
    expect(shape.parse({ b: null, c: 2, d: true })).toEqual({ b: null, c: 2, d: true });
    expect(int().parse(Number.MAX_SAFE_INTEGER)).toBe(Number.MAX_SAFE_INTEGER);
  });
});

describe('json-shape objects', () => {
  it('a loose object keeps unknown fields and returns the parsed object itself', () => {
    const value = { a: 'x', extra: { deep: [1] }, 'org.example': 2 };
    const parsed = looseObject({ a: string() }).parse(value);
    expect(parsed).toBe(value);
    expect(parsed).toEqual({ a: 'x', extra: { deep: [1] }, 'org.example': 2 });
  });

  it('a loose object holding a plain object returns a copy with the unknown fields kept', () => {
    const value = { inner: { a: 'x', dropped: 1 }, kept: true };
    expect(looseObject({ inner: object({ a: string() }) }).parse(value)).toEqual({
      inner: { a: 'x' },
      kept: true,
    });
    expect(value.inner).toEqual({ a: 'x', dropped: 1 }); // the input is not changed
  });

  it('a plain object drops unknown fields; an absent optional field stays absent', () => {
    const parsed = object({ a: string(), b: optional(string()) }).parse({ a: 'x', c: 1 });
    expect(parsed).toEqual({ a: 'x' });
    expect(Object.keys(parsed)).toEqual(['a']);
  });

  it('__proto__ in a document is a plain field: kept by loose objects and records, never the prototype', () => {
    const text = '{"a":"x","__proto__":{"polluted":"yes"},"m":{"__proto__":"v"}}';
    const loose = looseObject({ a: string(), m: record(string()) }).parse(JSON.parse(text));
    expect(Object.getPrototypeOf(loose)).toBe(Object.prototype);
    expect(Object.hasOwn(loose, '__proto__')).toBe(true);
    expect(Object.getOwnPropertyDescriptor(loose, '__proto__')?.value).toEqual({ polluted: 'yes' });
    expect(Object.getOwnPropertyDescriptor(loose.m, '__proto__')?.value).toBe('v');
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();

    // A record whose values are rebuilt (plain objects inside) keeps the key as data too.
    const rebuilt = record(object({ b: string() })).parse(JSON.parse('{"__proto__":{"b":"1","c":2}}'));
    expect(Object.getPrototypeOf(rebuilt)).toBe(Object.prototype);
    expect(Object.getOwnPropertyDescriptor(rebuilt, '__proto__')?.value).toEqual({ b: '1' });

    // A loose object copied because a field changed keeps it as data as well.
    const copied = looseObject({ inner: object({}) }).parse(
      JSON.parse('{"inner":{"x":1},"__proto__":{"p":1}}'),
    );
    expect(copied.inner).toEqual({});
    expect(Object.getPrototypeOf(copied)).toBe(Object.prototype);
    expect(Object.getOwnPropertyDescriptor(copied, '__proto__')?.value).toEqual({ p: 1 });

    // A plain object drops it like any unknown field; a strict one names it.
    expect(Object.hasOwn(object({ a: string() }).parse(JSON.parse(text)), '__proto__')).toBe(false);
    expect(mismatch(strictObject({ a: string(), m: record(string()) }), JSON.parse(text))).toBe(
      '(root): Unrecognized key: "__proto__"',
    );
  });

  it('fields named like Object.prototype members are read as own properties only', () => {
    // {} has no own constructor/toString: a field of that name is absent, not Object's function.
    expect(looseObject({ constructor: optional(string()) }).parse({})).toEqual({});
    expect(mismatch(object({ toString: string() }), {})).toBe(
      'toString: Invalid input: expected string, received undefined',
    );
    expect(object({ constructor: string() }).parse(JSON.parse('{"constructor":"c"}'))).toEqual({
      constructor: 'c',
    });
  });
});

describe('parseJson on the OCI shapes', () => {
  it.each([
    [
      'a size past 2^53',
      manifest([layer(2 ** 53)]),
      'layers.0.size: Too big: expected int to be <=9007199254740991',
    ],
    [
      'a size JSON.parse turns into Infinity',
      manifest([layer(1)]).replace('"size":1}]', '"size":1e400}]'),
      'layers.0.size: Invalid input: expected number, received Infinity',
    ],
    [
      'a negative size',
      manifest([layer(0), layer(-1)]),
      'layers.1.size: Too small: expected number to be >=0',
    ],
    [
      'a size as a string',
      manifest([layer('7')]),
      'layers.0.size: Invalid input: expected number, received string',
    ],
    [
      'an invalid digest',
      manifest([{ ...layer(1), digest: 'sha256:xyz' }]),
      'layers.0.digest: not a valid digest',
    ],
    [
      'an empty media type',
      manifest([{ ...layer(1), mediaType: '' }]),
      'layers.0.mediaType: Too small: expected string to have >=1 characters',
    ],
    ['schemaVersion 1', JSON.stringify({ schemaVersion: 1 }), 'schemaVersion: Invalid input: expected 2'],
    ['an array', '[]', '(root): Invalid input: expected object, received array'],
  ])('SCHEMA_INVALID names where and the first bad field: %s', (_name, text, message) => {
    let caught: unknown;
    try {
      parseJson(ImageManifestSchema, text, 'manifest M');
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(KartError);
    expect((caught as KartError).code).toBe('SCHEMA_INVALID');
    expect((caught as KartError).message).toBe(`manifest M: ${message}`);
  });

  it('JSON_INVALID for bytes that are not JSON; a valid manifest comes back with its unknown fields', () => {
    expect(() => parseJson(ImageManifestSchema, Buffer.from('{'), 'manifest M')).toThrow(
      expect.objectContaining({ code: 'JSON_INVALID' }),
    );
    const text = JSON.stringify({ schemaVersion: 2, config: layer(2), layers: [layer(3)], 'x-extra': [1] });
    expect(parseJson(ImageManifestSchema, Buffer.from(text), 'manifest M')).toEqual(JSON.parse(text));
  });
});

describe('start-up', () => {
  it('the registry client and the pull path load no schema library (zod is not among the modules)', () => {
    const hook = resolve(ROOT, 'test/support/trace-module-loads.ts');
    const run = spawnSync(
      process.execPath,
      [
        '--import',
        hook,
        '--input-type=module',
        '-e',
        "await import('./src/registry/index.ts'); await import('./src/kernel/pull/pull-kernel.ts');",
      ],
      { cwd: ROOT, encoding: 'utf8' },
    );
    expect(run.status).toBe(0);
    const loaded = run.stderr
      .split('\n')
      .filter((line) => line.startsWith('kart-test-loaded file:'))
      .map((line) => line.slice('kart-test-loaded '.length));
    // The trace works: the modules asked for and the validators are there.
    expect(loaded.some((url) => url.endsWith('/src/kernel/pull/pull-kernel.ts'))).toBe(true);
    expect(loaded.some((url) => url.endsWith('/src/oci/json-shape.ts'))).toBe(true);
    expect(loaded.filter((url) => /\/node_modules\/zod\//.test(url))).toEqual([]);
  });
});
