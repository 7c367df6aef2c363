import { parse as parseToml, TomlError } from 'smol-toml';
import { KartError } from '../../errors.ts';
import { array, boolean, checkShape, object, optional, string, type Infer } from '../../oci/json-shape.ts';

/**
 * containers' registries.conf, the part kart acts on: `[[registry]]` tables with their prefix,
 * location, insecure, blocked, mirror-by-digest-only and `[[registry.mirror]]` lists. Other keys
 * (unqualified-search-registries, aliases, credential-helpers, …) belong to other tools and are let
 * through untouched, so the files podman and CRI-O read work here as they are.
 *
 * As in containers/image: a main file in the version 1 format (`[registries.search]`,
 * `[registries.insecure]`, `[registries.block]`, still the system file on older hosts) is read as the
 * version 2 entries it stands for (search lists mean nothing to kart); a drop-in must be version 2,
 * and one file may not mix both. Within one file the first table of a prefix wins and the same
 * registry may not be both insecure and not (or blocked and not).
 */
export type PullFromMirror = 'all' | 'digest-only' | 'tag-only';

export interface MirrorEndpoint {
  /** `host[:port][/path]` */
  location: string;
  insecure: boolean;
  /** as written; undefined when the file leaves it unset (kart then treats the mirror as digest-only) */
  pullFromMirror: PullFromMirror | undefined;
}

export interface RegistryEntry {
  /** what references are matched against: `host[/path]`, `*.example.com`, or a single image */
  prefix: string;
  /** where the upstream really is ('' for a wildcard prefix that only adds mirrors or a block) */
  location: string;
  insecure: boolean;
  blocked: boolean;
  mirrorByDigestOnly: boolean;
  mirrors: MirrorEndpoint[];
  /** `file:line` of the table, for messages */
  origin: string;
}

export interface RegistriesConf {
  registries: RegistryEntry[];
  /** the files read, in order */
  files: string[];
}

const EndpointFields = {
  location: optional(string()),
  insecure: optional(boolean()),
};

const MirrorSchema = object({
  ...EndpointFields,
  'pull-from-mirror': optional(string()),
});

const RegistrySchema = object({
  ...EndpointFields,
  prefix: optional(string()),
  blocked: optional(boolean()),
  'mirror-by-digest-only': optional(boolean()),
  'pull-from-mirror': optional(string()),
  mirror: optional(array(MirrorSchema)),
});

const V1ListSchema = optional(object({ registries: optional(array(string())) }));

const FileSchema = object({
  registry: optional(array(RegistrySchema)),
  // The version 1 format's tables.
  registries: optional(object({ search: V1ListSchema, insecure: V1ListSchema, block: V1ListSchema })),
});

/** Top-level keys of the version 2 format: any of them beside version 1 tables is a mixed file. */
const V2_KEYS = [
  'registry',
  'unqualified-search-registries',
  'credential-helpers',
  'short-name-mode',
  'aliases',
  'additional-layer-store-auth-helper',
];

export interface ParseOptions {
  /** a registries.conf.d drop-in: the version 1 format is refused there, as containers does */
  dropIn?: boolean;
}

/** Parses one registries.conf (or drop-in) text; `path` names it in errors (REGISTRIES_CONF_INVALID). */
export function parseRegistriesConf(text: string, path: string, options: ParseOptions = {}): RegistryEntry[] {
  let document: unknown;
  try {
    document = parseToml(text);
  } catch (error) {
    if (error instanceof TomlError) {
      const reason = error.message.split('\n')[0]!.replace(/^Invalid TOML document: /, '');
      throw invalid(`${path}:${error.line}`, `not valid TOML: ${reason}`, error);
    }
    throw error;
  }
  const checked = checkShape(FileSchema, document);
  const headers = registryHeaderLines(text);
  if (!checked.ok) {
    const { path: fieldPath, reason } = checked.mismatch;
    const index = typeof fieldPath[1] === 'number' ? fieldPath[1] : undefined;
    const where = index === undefined ? path : `${path}:${headers[index]?.line ?? 1}`;
    throw invalid(where, `${fieldPath.join('.')}: ${reason}`);
  }
  const v1 = checked.value.registries;
  // Set means a `registries` list is written (even an empty one), as containers decides it.
  if (v1 !== undefined && [v1.search, v1.insecure, v1.block].some((list) => list?.registries)) {
    const where = `${path}:${lineOf(text, /^\s*\[\s*registries[\].]/)}`;
    const hint =
      'rewrite it as [[registry]] tables (registries.conf version 2), as containers-registries.conf(5) describes';
    if (options.dropIn === true) {
      throw invalid(
        where,
        'a registries.conf.d drop-in must be in the version 2 format; this is version 1',
        undefined,
        {
          hint,
        },
      );
    }
    const mixed = V2_KEYS.find((key) => key in (document as Record<string, unknown>));
    if (mixed !== undefined) {
      throw invalid(
        where,
        `mixes the version 1 format ([registries.*]) with version 2 (${mixed})`,
        undefined,
        {
          hint,
        },
      );
    }
    return fromVersion1(v1, text, path);
  }
  const entries = (checked.value.registry ?? []).map((table, index) =>
    registryEntry(table, path, headers[index] ?? { line: 1, mirrors: [] }),
  );
  return firstOfEachPrefix(refuseConflicts(entries));
}

/**
 * The version 2 entries a version 1 file stands for: each registry named under `[registries.block]`
 * or `[registries.insecure]` becomes one entry (its prefix its location) with those flags, in the
 * order first named. `[registries.search]` lists where short names are looked for: nothing for kart.
 */
function fromVersion1(
  v1: NonNullable<Infer<typeof FileSchema>['registries']>,
  text: string,
  path: string,
): RegistryEntry[] {
  const byLocation = new Map<string, RegistryEntry>();
  const lists = [
    { names: v1.block?.registries ?? [], table: 'block', flag: 'blocked' },
    { names: v1.insecure?.registries ?? [], table: 'insecure', flag: 'insecure' },
  ] as const;
  for (const { names, table, flag } of lists) {
    const origin = `${path}:${lineOf(text, new RegExp(`^\\s*\\[\\s*registries\\.${table}\\s*\\]`))}`;
    for (const name of names) {
      const location = endpointLocation(name, origin, `[registries.${table}] entry`);
      if (location === '') throw invalid(origin, `[registries.${table}] has an empty entry`);
      let entry = byLocation.get(location);
      if (entry === undefined) {
        entry = {
          prefix: location,
          location,
          insecure: false,
          blocked: false,
          mirrorByDigestOnly: false,
          mirrors: [],
          origin,
        };
        byLocation.set(location, entry);
      }
      entry[flag] = true;
    }
  }
  return [...byLocation.values()];
}

/**
 * A registry (by location, or by prefix for a wildcard) may appear in several tables, e.g. one prefix
 * per set of mirrors, but not with different insecure or blocked settings: containers refuses the
 * whole file then, and so does kart, naming both tables.
 */
function refuseConflicts(entries: RegistryEntry[]): RegistryEntry[] {
  const seen = new Map<string, RegistryEntry>();
  for (const entry of entries) {
    const key = entry.location === '' ? entry.prefix : entry.location;
    const other = seen.get(key);
    if (other === undefined) {
      seen.set(key, entry);
      continue;
    }
    for (const setting of ['insecure', 'blocked'] as const) {
      if (entry[setting] !== other[setting]) {
        throw invalid(
          entry.origin,
          `registry ${key} is defined again with a conflicting ${setting} setting (${other.origin} says ${other[setting]}, this table ${entry[setting]})`,
          undefined,
          { hint: `give every [[registry]] of ${key} the same ${setting} value` },
        );
      }
    }
  }
  return entries;
}

/** Two tables with the same prefix: the first wins and the later ones are ignored, as in containers. */
function firstOfEachPrefix(entries: RegistryEntry[]): RegistryEntry[] {
  const byPrefix = new Map<string, RegistryEntry>();
  for (const entry of entries) if (!byPrefix.has(entry.prefix)) byPrefix.set(entry.prefix, entry);
  return [...byPrefix.values()];
}

function registryEntry(table: Infer<typeof RegistrySchema>, path: string, lines: TableLines): RegistryEntry {
  const origin = `${path}:${lines.line}`;
  const location = endpointLocation(table.location ?? '', origin, 'location');
  let prefix = table.prefix === undefined || table.prefix === '' ? location : table.prefix.trim();
  if (prefix === '') throw invalid(origin, 'a [[registry]] needs a prefix or a location');
  if (prefix.startsWith('*.')) {
    if (/[/@:]/.test(prefix)) {
      throw invalid(origin, `wildcard prefix "${prefix}" must be a bare domain such as *.example.com`);
    }
  } else {
    prefix = endpointLocation(prefix, origin, 'prefix');
    if (location === '') {
      throw invalid(
        origin,
        `prefix "${prefix}" has no location; only a *.example.com prefix may leave it empty`,
      );
    }
  }
  if (table['pull-from-mirror'] !== undefined) {
    throw invalid(
      origin,
      'pull-from-mirror belongs in a [[registry.mirror]], not in the [[registry]] itself',
    );
  }
  const mirrorByDigestOnly = table['mirror-by-digest-only'] === true;
  const mirrors = (table.mirror ?? []).map((mirror, index): MirrorEndpoint => {
    const at = `${path}:${lines.mirrors[index] ?? lines.line}`;
    const mirrorLocation = endpointLocation(mirror.location ?? '', at, 'mirror location');
    if (mirrorLocation === '') throw invalid(at, 'a [[registry.mirror]] has no location');
    const mode = mirror['pull-from-mirror'];
    if (mode !== undefined && mode !== 'all' && mode !== 'digest-only' && mode !== 'tag-only') {
      throw invalid(
        at,
        `pull-from-mirror = "${mode}" for mirror ${mirrorLocation}: not one of all, digest-only, tag-only`,
      );
    }
    if (mode !== undefined && mirrorByDigestOnly) {
      throw invalid(
        at,
        `mirror ${mirrorLocation} sets pull-from-mirror while its registry sets mirror-by-digest-only`,
      );
    }
    return { location: mirrorLocation, insecure: mirror.insecure === true, pullFromMirror: mode };
  });
  return {
    prefix,
    location,
    insecure: table.insecure === true,
    blocked: table.blocked === true,
    mirrorByDigestOnly,
    mirrors,
    origin,
  };
}

/** `host[:port][/path]`: no scheme, no trailing slash. */
function endpointLocation(value: string, origin: string, what: string): string {
  const trimmed = value.trim().replace(/\/+$/, '');
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(trimmed)) {
    throw invalid(origin, `${what} "${value}" has a URL scheme; write host[:port][/path]`);
  }
  return trimmed;
}

interface TableLines {
  line: number;
  mirrors: number[];
}

/**
 * The line of each `[[registry]]` header and of its `[[registry.mirror]]` headers, in order, so
 * errors name the line (the TOML parser keeps no positions).
 */
function registryHeaderLines(text: string): TableLines[] {
  const tables: TableLines[] = [];
  text.split('\n').forEach((line, index) => {
    if (/^\s*\[\[\s*registry\s*\]\]/.test(line)) tables.push({ line: index + 1, mirrors: [] });
    else if (/^\s*\[\[\s*registry\.mirror\s*\]\]/.test(line)) tables.at(-1)?.mirrors.push(index + 1);
  });
  return tables;
}

function lineOf(text: string, pattern: RegExp): number {
  const index = text.split('\n').findIndex((line) => pattern.test(line));
  return index < 0 ? 1 : index + 1;
}

function invalid(where: string, what: string, cause?: unknown, extra: { hint?: string } = {}): KartError {
  return new KartError('REGISTRIES_CONF_INVALID', `${where}: ${what}`, {
    exitCode: 2,
    hint:
      extra.hint ??
      'fix the file (containers-registries.conf(5) describes the format), or point --registries-conf at another',
    ...(cause === undefined ? {} : { cause }),
    details: { where },
  });
}
