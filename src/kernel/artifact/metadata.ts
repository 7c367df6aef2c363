import { KartError } from '../../errors.ts';
import { array, checkShape, object, oneOf, optional, refine, string } from '../../oci/json-shape.ts';
import type { KernelArch } from '../image/types.ts';

/**
 * `kernel/metadata`: the artifact's KEY=VALUE file (format v1, krata/linux-kernel-oci compatible).
 * Written as LF-terminated lines, no quoting, in the order KERNEL_ARCH, KERNEL_VERSION,
 * KERNEL_UNAME_R, KERNEL_FLAVOR, KERNEL_CONFIG, KERNEL_TAGS, then any extra keys.
 * Read the way linux-kernel-oci's own readers do: lines split on LF (a CR before it is dropped),
 * blank lines ignored, each line split on its first `=`, the value kept verbatim, keys in any order,
 * unknown keys kept in `extra` (PR L#257 plans KERNEL_SRC_*). Images built before 2026-03 have no
 * KERNEL_UNAME_R and images since 2024-11 no KERNEL_TAGS, so both are optional.
 */
export interface KernelMetadata {
  arch: KernelArch;
  /** KERNEL_VERSION: the version it was published as, e.g. 6.18.44 or 6.18.44-nvidia-595.91.07. */
  version: string;
  /** KERNEL_UNAME_R: `uname -r` of the kernel, e.g. 6.18.44-edera-zone. */
  unameRelease?: string | undefined;
  flavor: string;
  /** KERNEL_CONFIG: `sha256:` + hex of the *uncompressed* .config (not a registry blob digest). */
  configDigest: string;
  /** KERNEL_TAGS: the tags it was published under (written comma-joined). */
  tags?: readonly string[] | undefined;
  /** Keys kart does not know, in file order for writing. */
  extra?: Readonly<Record<string, string>>;
}

/** What parsing returns: `extra` is always present (possibly empty). */
export type ParsedKernelMetadata = KernelMetadata & { extra: Record<string, string> };

const KEYS = {
  arch: 'KERNEL_ARCH',
  version: 'KERNEL_VERSION',
  unameRelease: 'KERNEL_UNAME_R',
  flavor: 'KERNEL_FLAVOR',
  configDigest: 'KERNEL_CONFIG',
  tags: 'KERNEL_TAGS',
} as const;
const KNOWN_KEYS: ReadonlySet<string> = new Set(Object.values(KEYS));

/** Shapes of the known values; a value is one line of text, so none may hold LF, CR or NUL. */
const ONE_LINE = /^[^\n\r\0]*$/;
const Line = refine(string(), (s) => ONE_LINE.test(s), 'must not contain a newline or NUL');
const NonEmptyLine = refine(Line, (s) => s.length > 0, 'must not be empty');
const matching = (pattern: RegExp, message: string) => refine(string(), (s) => pattern.test(s), message);
const MetadataSchema = object({
  arch: oneOf(['x86_64', 'aarch64'], 'must be x86_64 or aarch64'),
  version: NonEmptyLine,
  unameRelease: optional(NonEmptyLine),
  flavor: NonEmptyLine,
  configDigest: matching(/^sha256:[0-9a-f]{64}$/, 'must be sha256: followed by 64 lowercase hex digits'),
  tags: optional(array(matching(/^[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}$/, 'each tag must be a valid OCI tag'))),
});
const EXTRA_KEY = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** Metadata files are a few hundred bytes; anything past this is not one. */
export const MAX_METADATA_BYTES = 64 * 1024;

function invalid(
  where: string,
  what: string,
  hint: string,
  details: Record<string, unknown> = {},
): KartError {
  return new KartError('METADATA_INVALID', `${where}: ${what}`, { exitCode: 2, hint, details });
}

/** Renders the file. Throws METADATA_INVALID naming the key whose value cannot be written as one line. */
export function formatKernelMetadata(metadata: KernelMetadata): string {
  const result = checkShape(MetadataSchema, {
    arch: metadata.arch,
    version: metadata.version,
    unameRelease: metadata.unameRelease,
    flavor: metadata.flavor,
    configDigest: metadata.configDigest,
    tags: metadata.tags === undefined ? undefined : [...metadata.tags],
  });
  if (!result.ok) {
    const field = String(result.mismatch.path[0] ?? '') as keyof typeof KEYS;
    throw invalid(
      'kernel metadata',
      `${KEYS[field] ?? field} ${result.mismatch.reason}`,
      'fix the value passed in',
      {
        key: KEYS[field] ?? field,
      },
    );
  }
  const m = result.value;
  const lines: string[] = [`${KEYS.arch}=${m.arch}`, `${KEYS.version}=${m.version}`];
  if (m.unameRelease !== undefined) lines.push(`${KEYS.unameRelease}=${m.unameRelease}`);
  lines.push(`${KEYS.flavor}=${m.flavor}`, `${KEYS.configDigest}=${m.configDigest}`);
  if (m.tags !== undefined) lines.push(`${KEYS.tags}=${m.tags.join(',')}`);
  for (const [key, value] of Object.entries(metadata.extra ?? {})) {
    if (!EXTRA_KEY.test(key) || KNOWN_KEYS.has(key)) {
      throw invalid(
        'kernel metadata',
        `extra key "${key}" is not a new KEY name`,
        'use letters, digits and "_"; known keys have their own fields',
        { key },
      );
    }
    if (!ONE_LINE.test(value)) {
      throw invalid(
        'kernel metadata',
        `${key} must not contain a newline or NUL`,
        'fix the value passed in',
        { key },
      );
    }
    lines.push(`${key}=${value}`);
  }
  return `${lines.join('\n')}\n`;
}

function decode(input: string | Uint8Array, source: string): string {
  const size = typeof input === 'string' ? Buffer.byteLength(input) : input.byteLength;
  if (size > MAX_METADATA_BYTES) {
    throw invalid(
      source,
      `is ${size} bytes; a kernel metadata file is at most ${MAX_METADATA_BYTES}`,
      'this is not a kernel/metadata file',
    );
  }
  if (typeof input === 'string') return input;
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(input);
  } catch {
    throw invalid(source, 'is not UTF-8 text', 'this is not a kernel/metadata file');
  }
}

/**
 * Parses a metadata file. `source` names it in errors (e.g. "oci:dir:6.1 kernel/metadata").
 * Throws METADATA_INVALID naming the source and line: a line without `=`, an empty key, a known key
 * twice, a NUL, a known key missing or of the wrong shape.
 */
export function parseKernelMetadata(input: string | Uint8Array, source: string): ParsedKernelMetadata {
  const text = decode(input, source);
  const known = new Map<string, { value: string; line: number }>();
  // A Map, then fromEntries: a key such as `__proto__` becomes an own entry, never a prototype.
  const extra = new Map<string, string>();
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const lineNumber = i + 1;
    const line = (lines[i] ?? '').replace(/\r$/, '');
    if (line.trim() === '') continue;
    const where = `${source}:${lineNumber}`;
    if (line.includes('\0'))
      throw invalid(where, 'contains a NUL byte', 'this is not a kernel/metadata file', { line: lineNumber });
    const eq = line.indexOf('=');
    if (eq < 0) {
      throw invalid(
        where,
        `"${truncate(line)}" is not KEY=VALUE`,
        'each line of kernel/metadata is KEY=VALUE',
        { line: lineNumber },
      );
    }
    if (eq === 0)
      throw invalid(where, 'has an empty key before "="', 'each line of kernel/metadata is KEY=VALUE', {
        line: lineNumber,
      });
    const key = line.slice(0, eq);
    const value = line.slice(eq + 1);
    if (KNOWN_KEYS.has(key)) {
      const earlier = known.get(key);
      if (earlier) {
        throw invalid(
          where,
          `${key} appears again (first on line ${earlier.line})`,
          'a key may appear once; the file is ambiguous',
          {
            line: lineNumber,
            key,
          },
        );
      }
      known.set(key, { value, line: lineNumber });
    } else if (!extra.has(key)) {
      // Unknown keys: the first occurrence wins, as `grep ^KEY= | head -1` would read it.
      extra.set(key, value);
    }
  }

  const candidate = {
    arch: known.get(KEYS.arch)?.value,
    version: known.get(KEYS.version)?.value,
    unameRelease: known.get(KEYS.unameRelease)?.value,
    flavor: known.get(KEYS.flavor)?.value,
    configDigest: known.get(KEYS.configDigest)?.value,
    tags: parseTagList(known.get(KEYS.tags)?.value),
  };
  const result = checkShape(MetadataSchema, candidate);
  if (!result.ok) {
    const field = String(result.mismatch.path[0] ?? '') as keyof typeof KEYS;
    const key = KEYS[field] ?? field;
    const entry = known.get(key);
    if (entry === undefined) {
      throw invalid(
        source,
        `has no ${key} line`,
        'a kernel/metadata file needs KERNEL_ARCH, KERNEL_VERSION, KERNEL_FLAVOR and KERNEL_CONFIG',
        {
          key,
        },
      );
    }
    throw invalid(
      `${source}:${entry.line}`,
      `${key}=${truncate(entry.value)}: ${key} ${result.mismatch.reason}`,
      'the file is corrupt or not written by a kernel publisher',
      {
        line: entry.line,
        key,
      },
    );
  }
  const m = result.value;
  return {
    arch: m.arch,
    version: m.version,
    ...(m.unameRelease === undefined ? {} : { unameRelease: m.unameRelease }),
    flavor: m.flavor,
    configDigest: m.configDigest,
    ...(m.tags === undefined ? {} : { tags: m.tags }),
    extra: Object.fromEntries(extra),
  };
}

/** KERNEL_TAGS as GitHub's join() wrote it: comma-separated, no spaces; empty items are dropped. */
function parseTagList(value: string | undefined): string[] | undefined {
  if (value === undefined) return undefined;
  return value.split(',').filter((tag) => tag !== '');
}

function truncate(text: string): string {
  return text.length > 80 ? `${text.slice(0, 80)}…` : text;
}
