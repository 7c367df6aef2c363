import { parse as parseToml, TomlError } from 'smol-toml';
import { z } from 'zod';
import { KartError } from '../../errors.ts';

/**
 * containers' registries.conf (version 2), the part kart acts on: `[[registry]]` tables with their
 * prefix, location, insecure, blocked, mirror-by-digest-only and `[[registry.mirror]]` lists. Other
 * keys (unqualified-search-registries, aliases, credential-helpers, …) belong to other tools and are
 * let through untouched, so the files podman and CRI-O read work here as they are.
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
  location: z.string().optional(),
  insecure: z.boolean().optional(),
};

const MirrorSchema = z.object({
  ...EndpointFields,
  'pull-from-mirror': z.string().optional(),
});

const RegistrySchema = z.object({
  ...EndpointFields,
  prefix: z.string().optional(),
  blocked: z.boolean().optional(),
  'mirror-by-digest-only': z.boolean().optional(),
  'pull-from-mirror': z.string().optional(),
  mirror: z.array(MirrorSchema).optional(),
});

const FileSchema = z.object({
  registry: z.array(RegistrySchema).optional(),
  // The v1 format's tables: refused with a message rather than silently ignored.
  registries: z.unknown().optional(),
});

/** Parses one registries.conf (or drop-in) text; `path` names it in errors (REGISTRIES_CONF_INVALID). */
export function parseRegistriesConf(text: string, path: string): RegistryEntry[] {
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
  const checked = FileSchema.safeParse(document);
  const headers = registryHeaderLines(text);
  if (!checked.success) {
    const issue = checked.error.issues[0]!;
    const index = typeof issue.path[1] === 'number' ? issue.path[1] : undefined;
    const where = index === undefined ? path : `${path}:${headers[index]?.line ?? 1}`;
    throw invalid(where, `${issue.path.join('.')}: ${issue.message}`);
  }
  if (checked.data.registries !== undefined) {
    throw invalid(
      `${path}:${lineOf(text, /^\s*\[\s*registries[\].]/)}`,
      'this is the version 1 format',
      undefined,
      {
        hint: 'rewrite it as [[registry]] tables (registries.conf version 2), as containers-registries.conf(5) describes',
      },
    );
  }
  return (checked.data.registry ?? []).map((table, index) =>
    registryEntry(table, path, headers[index] ?? { line: 1, mirrors: [] }),
  );
}

function registryEntry(
  table: z.infer<typeof RegistrySchema>,
  path: string,
  lines: TableLines,
): RegistryEntry {
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
