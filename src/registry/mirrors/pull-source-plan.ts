import { KartError } from '../../errors.ts';
import { DOCKER_HUB_REGISTRY, parseReference, type RegistryReference } from '../../oci/reference.ts';
import type { RegistriesConf, RegistryEntry } from './registries-conf.ts';

/**
 * Where a pull of one reference may read from: its mirrors in order, then the upstream, following
 * containers' registries.conf rules (longest matching prefix, `*.example.com` wildcards, location
 * rewriting, blocked) plus `--mirror` from the command line. A mirror is trusted for bytes named by
 * digest; it answers for a tag only when the upstream cannot be reached and the policy allows it.
 */
export interface SourceEndpoint {
  /** `host[:port]` as requests go to it */
  host: string;
  repository: string;
  insecure: boolean;
}

export interface MirrorSource extends SourceEndpoint {
  /** serves manifests and blobs by digest */
  digests: boolean;
  /** may say what a tag names when the upstream cannot be reached */
  tags: boolean;
  /** `file:line` of its registries.conf entry, or `--mirror` */
  origin: string;
}

export interface PullSourcePlan {
  upstream: SourceEndpoint;
  mirrors: MirrorSource[];
}

export interface CommandLineMirrors {
  /** `HOST[/PATH]`, tried before registries.conf's mirrors; the repository is appended */
  mirrors?: readonly string[];
  /** let mirrors answer for tags when the upstream cannot be reached (registries.conf: pull-from-mirror = "all" or "tag-only") */
  tagFromMirror?: boolean;
}

/**
 * The length of the part of `ref` that `prefix` matches, or -1 (containers' rules): a plain prefix
 * matches whole path components (followed by `/`, `:` or `@`, or the end); `*.example.com` matches
 * any subdomain of example.com in the host part only.
 */
export function refMatchingPrefix(ref: string, prefix: string): number {
  if (prefix.startsWith('*.')) {
    const domain = prefix.slice(1);
    const index = ref.indexOf(domain);
    if (index < 0 || ref.slice(0, index).includes('/')) return -1;
    const end = index + domain.length;
    return end === ref.length || ':/@'.includes(ref[end]!) ? end : -1;
  }
  if (ref === prefix) return prefix.length;
  if (ref.length > prefix.length && ref.startsWith(prefix) && ':/@'.includes(ref[prefix.length]!)) {
    return prefix.length;
  }
  return -1;
}

/** The entry with the longest prefix matching `ref` (a registries.conf-style name, `docker.io/...`). */
export function findRegistry(registries: readonly RegistryEntry[], ref: string): RegistryEntry | undefined {
  let found: RegistryEntry | undefined;
  for (const entry of registries) {
    if (refMatchingPrefix(ref, entry.prefix) < 0) continue;
    if (found === undefined || entry.prefix.length > found.prefix.length) found = entry;
  }
  return found;
}

/** How registries.conf names a reference: Docker Hub as docker.io, with its tag or digest. */
export function confName(ref: RegistryReference): string {
  const host = ref.registry === DOCKER_HUB_REGISTRY ? 'docker.io' : ref.registry;
  return `${host}/${ref.repository}${ref.digest ? `@${ref.digest}` : ref.tag ? `:${ref.tag}` : ''}`;
}

export function planPullSources(
  ref: RegistryReference,
  conf: RegistriesConf | undefined,
  cli: CommandLineMirrors = {},
): PullSourcePlan {
  const name = confName(ref);
  const entry = conf === undefined ? undefined : findRegistry(conf.registries, name);
  if (entry?.blocked === true) {
    throw new KartError(
      'REGISTRY_BLOCKED',
      `pulling ${name} is blocked by registries.conf (${entry.origin})`,
      {
        exitCode: 2,
        hint: `the [[registry]] with prefix "${entry.prefix}" sets blocked = true; pull from another registry or change that entry`,
        details: { reference: name, origin: entry.origin },
      },
    );
  }
  const tagFromMirror = cli.tagFromMirror === true;
  const fromCommandLine = (cli.mirrors ?? []).map((location): MirrorSource => ({
    ...endpointAt(`${location.replace(/\/+$/, '')}/${ref.repository}`, false, '--mirror'),
    digests: true,
    tags: tagFromMirror,
    origin: '--mirror',
  }));
  if (entry === undefined) {
    return {
      upstream: { host: ref.registry, repository: ref.repository, insecure: false },
      mirrors: fromCommandLine,
    };
  }
  const matched = refMatchingPrefix(name, entry.prefix);
  const rest = stripTagAndDigest(name.slice(matched));
  const upstream =
    entry.location === ''
      ? { host: ref.registry, repository: ref.repository, insecure: entry.insecure }
      : endpointAt(`${entry.location}${rest}`, entry.insecure, entry.origin);
  const fromConf = entry.mirrors.map((mirror): MirrorSource => {
    const mode = entry.mirrorByDigestOnly ? 'digest-only' : mirror.pullFromMirror;
    return {
      ...endpointAt(`${mirror.location}${rest}`, mirror.insecure, entry.origin),
      // Unset means digest-only for kart: a mirror is trusted for bytes, not for what a tag names.
      digests: mode !== 'tag-only',
      tags: mode === 'all' || mode === 'tag-only' || tagFromMirror,
      origin: entry.origin,
    };
  });
  return { upstream, mirrors: [...fromCommandLine, ...fromConf] };
}

/** What follows the matched prefix, without the reference's own tag or digest. */
function stripTagAndDigest(rest: string): string {
  const at = rest.indexOf('@');
  const path = at < 0 ? rest : rest.slice(0, at);
  const slash = path.lastIndexOf('/');
  const colon = path.indexOf(':', slash + 1);
  return colon < 0 ? path : path.slice(0, colon);
}

function endpointAt(name: string, insecure: boolean, origin: string): SourceEndpoint {
  let parsed;
  try {
    parsed = parseReference(name);
  } catch (error) {
    throw new KartError('MIRROR_INVALID', `${origin}: "${name}" is not a registry repository`, {
      exitCode: 2,
      hint: 'a mirror or location is HOST[:PORT][/PATH], e.g. cache.site.example:5000/kernels',
      cause: error,
    });
  }
  if (parsed.kind !== 'registry') {
    throw new KartError('MIRROR_INVALID', `${origin}: "${name}" is not a registry repository`, {
      exitCode: 2,
    });
  }
  return { host: parsed.registry, repository: parsed.repository, insecure };
}
