/**
 * Checks that a value parsed from JSON (or TOML) has the shape kart expects, and names the first field
 * that does not: a handful of combinators (object, array, record, string, int, literal, optional,
 * refine...) whose `parse` returns the value typed or throws `ShapeMismatch` with the field's path.
 *
 * Hand-written rather than a schema library: zod was 95 of the ~230 modules a registry command loaded
 * from sources before its first request (a 454 KB chunk of the bundle), about a third of importing the
 * registry and pull code, while kart's documents need only these few checks (this file is ~3 KB
 * minified). The messages keep zod's wording ("Invalid input: expected string, received number"),
 * which kart printed before, so errors read the same.
 *
 * Values are checked, not copied: a loose object (unknown fields kept, as the OCI spec requires of
 * readers) comes back as the very object parsed, and a plain `object` returns a fresh object with only
 * its known fields. Fields are read as own properties only, so a document's `__proto__` or
 * `constructor` key is just an unknown field, never the prototype's.
 */

export type PathKey = string | number;

/** A check of one kind of value; `parse` returns the value typed, or throws `ShapeMismatch`. */
export interface Shape<T> {
  parse(value: unknown): T;
}

export type Infer<S> = S extends Shape<infer T> ? T : never;

/** The first field that does not fit: `path` from the document's root, `reason` in words. */
export class ShapeMismatch extends Error {
  readonly path: PathKey[];
  readonly reason: string;
  constructor(reason: string, path: PathKey[] = []) {
    // `message` is the reason alone: the path grows as the mismatch passes up through containers.
    super(reason);
    this.name = 'ShapeMismatch';
    this.reason = reason;
    this.path = path;
  }

  /** `layers.2.size`, or `(root)` when the document itself is the wrong kind of value. */
  get where(): string {
    return this.path.length > 0 ? this.path.join('.') : '(root)';
  }
}

export type ShapeResult<T> = { ok: true; value: T } | { ok: false; mismatch: ShapeMismatch };

/** `shape.parse(value)` as a result instead of an exception (only a mismatch is caught). */
export function checkShape<T>(shape: Shape<T>, value: unknown): ShapeResult<T> {
  try {
    return { ok: true, value: shape.parse(value) };
  } catch (error) {
    if (error instanceof ShapeMismatch) return { ok: false, mismatch: error };
    throw error;
  }
}

/** What a value is, in the words of the messages: `array` and `null` apart from `object`. */
function kindOf(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  if (typeof value === 'number' && !Number.isFinite(value)) return String(value);
  return typeof value;
}

function expected(what: string, value: unknown): ShapeMismatch {
  return new ShapeMismatch(`Invalid input: expected ${what}, received ${kindOf(value)}`);
}

/** Runs `shape` on a field, prefixing the field's key to the path of a mismatch inside it. */
function field<T>(shape: Shape<T>, value: unknown, key: PathKey): T {
  try {
    return shape.parse(value);
  } catch (error) {
    if (error instanceof ShapeMismatch) error.path.unshift(key);
    throw error;
  }
}

export function string(): Shape<string> {
  return {
    parse(value) {
      if (typeof value !== 'string') throw expected('string', value);
      return value;
    },
  };
}

export function boolean(): Shape<boolean> {
  return {
    parse(value) {
      if (typeof value !== 'boolean') throw expected('boolean', value);
      return value;
    },
  };
}

/** A finite number (JSON's 1e400 parses to Infinity: refused). */
export function number(): Shape<number> {
  return {
    parse(value) {
      if (typeof value !== 'number' || !Number.isFinite(value)) throw expected('number', value);
      return value;
    },
  };
}

export interface IntBounds {
  min?: number;
  max?: number;
}

/**
 * An integer JavaScript holds exactly: beyond 2^53 a JSON number has already been rounded by
 * JSON.parse, so a size or a pid there is refused rather than trusted. `min`/`max` bound it further.
 */
export function int(bounds: IntBounds = {}): Shape<number> {
  const inner = number();
  return {
    parse(value) {
      const n = inner.parse(value);
      if (!Number.isInteger(n)) throw expected('int', n);
      if (n > Number.MAX_SAFE_INTEGER)
        throw new ShapeMismatch(`Too big: expected int to be <=${Number.MAX_SAFE_INTEGER}`);
      if (n < Number.MIN_SAFE_INTEGER)
        throw new ShapeMismatch(`Too small: expected int to be >=${Number.MIN_SAFE_INTEGER}`);
      if (bounds.min !== undefined && n < bounds.min)
        throw new ShapeMismatch(`Too small: expected number to be >=${bounds.min}`);
      if (bounds.max !== undefined && n > bounds.max)
        throw new ShapeMismatch(`Too big: expected number to be <=${bounds.max}`);
      return n;
    },
  };
}

/** Exactly this string, number or boolean. */
export function literal<const L extends string | number | boolean>(expectedValue: L): Shape<L> {
  return {
    parse(value) {
      if (value !== expectedValue)
        throw new ShapeMismatch(`Invalid input: expected ${JSON.stringify(expectedValue)}`);
      return expectedValue;
    },
  };
}

/** One of these strings; `message` replaces the default "expected one of ..." wording. */
export function oneOf<const V extends string>(values: readonly V[], message?: string): Shape<V> {
  const allowed: ReadonlySet<unknown> = new Set(values);
  return {
    parse(value) {
      if (!allowed.has(value)) {
        throw new ShapeMismatch(
          message ?? `Invalid option: expected one of ${values.map((v) => JSON.stringify(v)).join('|')}`,
        );
      }
      return value as V;
    },
  };
}

/** `shape`, then a test of the value it returned; a failed test is `message`. A type guard narrows. */
export function refine<T, U extends T>(
  shape: Shape<T>,
  test: (value: T) => value is U,
  message: string,
): Shape<U>;
export function refine<T>(shape: Shape<T>, test: (value: T) => boolean, message: string): Shape<T>;
export function refine<T>(shape: Shape<T>, test: (value: T) => boolean, message: string): Shape<T> {
  return {
    parse(value) {
      const checked = shape.parse(value);
      if (!test(checked)) throw new ShapeMismatch(message);
      return checked;
    },
  };
}

/** Absent (undefined) or `shape`; in an object, the field becomes optional. */
export function optional<T>(shape: Shape<T>): Shape<T | undefined> {
  return { parse: (value) => (value === undefined ? undefined : shape.parse(value)) };
}

/** null or `shape`. */
export function nullable<T>(shape: Shape<T>): Shape<T | null> {
  return { parse: (value) => (value === null ? null : shape.parse(value)) };
}

/** Anything at all (a field kept as it is). */
export function unknownValue(): Shape<unknown> {
  return { parse: (value) => value };
}

export function array<T>(item: Shape<T>): Shape<T[]> {
  return {
    parse(value) {
      if (!Array.isArray(value)) throw expected('array', value);
      let out: T[] | undefined;
      for (let i = 0; i < value.length; i++) {
        const checked = field(item, value[i], i);
        if (checked !== value[i]) (out ??= value.slice())[i] = checked;
      }
      return (out ?? value) as T[];
    },
  };
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** An object used as a map: every own key a string, every value `shape` (keys like `__proto__` included). */
export function record<T>(shape: Shape<T>): Shape<Record<string, T>> {
  return {
    parse(value) {
      if (!isPlainObject(value)) throw expected('record', value);
      let changed = false;
      const entries = Object.entries(value).map(([key, item]): [string, T] => {
        const checked = field(shape, item, key);
        if (checked !== item) changed = true;
        return [key, checked];
      });
      // fromEntries defines own properties, so a `__proto__` key stays data, not a prototype.
      return changed ? Object.fromEntries(entries) : (value as Record<string, T>);
    },
  };
}

type Fields = Record<string, Shape<unknown>>;
type OptionalKeys<F extends Fields> = {
  [K in keyof F]: undefined extends Infer<F[K]> ? K : never;
}[keyof F];
type Flatten<T> = { [K in keyof T]: T[K] } & {};
/** The object a shape of fields describes: fields that may be undefined are optional. */
export type ObjectOf<F extends Fields> = Flatten<
  { [K in Exclude<keyof F, OptionalKeys<F>>]: Infer<F[K]> } & { [K in OptionalKeys<F>]?: Infer<F[K]> }
>;

/** What an object does with fields its shape does not name. */
type Unknown = 'keep' | 'drop' | 'refuse';

function objectShape<F extends Fields>(fields: F, unknown: Unknown): Shape<ObjectOf<F>> {
  const keys = Object.keys(fields);
  const known: ReadonlySet<string> = new Set(keys);
  return {
    parse(value) {
      if (!isPlainObject(value)) throw expected('object', value);
      const checked: [string, unknown][] = [];
      let changed = false;
      for (const key of keys) {
        const own = Object.hasOwn(value, key) ? value[key] : undefined;
        const result = field(fields[key]!, own, key);
        if (result !== own) changed = true;
        if (result !== undefined || Object.hasOwn(value, key)) checked.push([key, result]);
      }
      if (unknown === 'refuse') {
        const extra = Object.keys(value).filter((key) => !known.has(key));
        if (extra.length > 0) {
          const names = extra.map((key) => JSON.stringify(key)).join(', ');
          throw new ShapeMismatch(`Unrecognized key${extra.length > 1 ? 's' : ''}: ${names}`);
        }
      }
      if (unknown === 'drop') return Object.fromEntries(checked) as ObjectOf<F>;
      if (!changed) return value as ObjectOf<F>;
      // Spreading copies own properties as data, so an unknown `__proto__` field stays a field.
      return { ...value, ...Object.fromEntries(checked) } as ObjectOf<F>;
    },
  };
}

/**
 * An object whose unknown fields are kept, as the OCI spec requires of a reader (documents are stored
 * byte for byte and only the known fields are read); the type says so with an index signature.
 */
export function looseObject<F extends Fields>(fields: F): Shape<ObjectOf<F> & { [key: string]: unknown }> {
  return objectShape(fields, 'keep') as Shape<ObjectOf<F> & { [key: string]: unknown }>;
}

/** An object of kart's own making: unknown fields are dropped from the value returned. */
export function object<F extends Fields>(fields: F): Shape<ObjectOf<F>> {
  return objectShape(fields, 'drop');
}

/** An object whose every field must be known (a policy file, where a typo must not pass silently). */
export function strictObject<F extends Fields>(fields: F): Shape<ObjectOf<F>> {
  return objectShape(fields, 'refuse');
}
