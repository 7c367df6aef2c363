import { KartError } from '../errors.ts';
import { isDigest, type Digest } from './digest.ts';

/**
 * References: what a user types to name content. Pure parsing, no I/O.
 *   registry: `[host[:port]/]repo[:tag][@digest]` with Docker's defaults
 *   layout:   `oci:DIR[:TAG|@DIGEST]` (an OCI image layout directory)
 * The grammar is the distribution spec's (repository path components, tag regex) and Docker's
 * domain rule: the first component is a registry host when it holds a `.` or `:`, is `localhost`,
 * or is a bracketed IPv6 literal.
 */
export type Reference = RegistryReference | LayoutReference;

export interface RegistryReference {
  kind: 'registry';
  /** host[:port] exactly as requests go to it; Docker Hub is `registry-1.docker.io`. */
  registry: string;
  repository: string;
  tag?: string;
  digest?: Digest;
}

export interface LayoutReference {
  kind: 'layout';
  dir: string;
  tag?: string;
  digest?: Digest;
}

export const DOCKER_HUB_REGISTRY = 'registry-1.docker.io';
const DOCKER_HUB_ALIASES = new Set(['docker.io', 'index.docker.io', DOCKER_HUB_REGISTRY]);

const PATH_COMPONENT = /^[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*$/;
const TAG = /^[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}$/;
const DOMAIN_LABEL = /^(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])$/;
const PORT = /^[0-9]{1,5}$/;
const IPV6_LITERAL = /^\[[0-9a-fA-F:.]+\]$/;
/** Many clients cap `host[:port]/name` at 255 characters (distribution spec). */
export const MAX_NAME_LENGTH = 255;
const MAX_REFERENCE_LENGTH = 4096;

const REGISTRY_FORM = '[HOST[:PORT]/]REPOSITORY[:TAG][@DIGEST], e.g. ghcr.io/acme/zone-kernel:6.1';
const LAYOUT_FORM = 'oci:DIR[:TAG|@DIGEST], e.g. oci:./kernels:6.1';

function invalid(input: string, what: string, form = REGISTRY_FORM): KartError {
  return new KartError('REFERENCE_INVALID', `reference "${input}": ${what}`, {
    exitCode: 2,
    hint: `write it as ${form}`,
    details: { reference: input },
  });
}

/** Parses a registry or layout reference; throws REFERENCE_INVALID naming the wrong part. */
export function parseReference(input: string): Reference {
  if (input.length === 0) throw invalid(input, 'is empty');
  if (input.length > MAX_REFERENCE_LENGTH) {
    throw invalid(
      `${input.slice(0, 40)}…`,
      `is ${input.length} characters long (at most ${MAX_REFERENCE_LENGTH})`,
    );
  }
  if (hasWhitespaceOrControl(input)) throw invalid(input, 'contains whitespace or control characters');
  if (input.startsWith('oci:')) return parseLayoutReference(input);
  return parseRegistryReference(input);
}

function hasWhitespaceOrControl(input: string): boolean {
  for (const ch of input) {
    const code = ch.codePointAt(0) ?? 0;
    if (code <= 0x20 || code === 0x7f || /\s/.test(ch)) return true;
  }
  return false;
}

function parseLayoutReference(input: string): LayoutReference {
  let rest = input.slice('oci:'.length);
  let tag: string | undefined;
  let digest: Digest | undefined;
  const at = rest.lastIndexOf('@');
  if (at >= 0) {
    digest = checkDigest(input, rest.slice(at + 1), LAYOUT_FORM);
    rest = rest.slice(0, at);
  } else {
    // A tag follows the last ':' of the last path segment (directories may contain ':' earlier).
    const slash = rest.lastIndexOf('/');
    const colon = rest.lastIndexOf(':');
    if (colon > slash) {
      tag = checkTag(input, rest.slice(colon + 1), LAYOUT_FORM);
      rest = rest.slice(0, colon);
    }
  }
  if (rest.length === 0) throw invalid(input, 'the layout directory is empty', LAYOUT_FORM);
  return { kind: 'layout', dir: rest, ...(tag === undefined ? {} : { tag }), ...(digest ? { digest } : {}) };
}

function parseRegistryReference(input: string): RegistryReference {
  let rest = input;
  let digest: Digest | undefined;
  const at = rest.indexOf('@');
  if (at >= 0) {
    digest = checkDigest(input, rest.slice(at + 1), REGISTRY_FORM);
    rest = rest.slice(0, at);
  }
  let tag: string | undefined;
  const slash = rest.lastIndexOf('/');
  const colon = rest.lastIndexOf(':');
  if (colon > slash) {
    tag = checkTag(input, rest.slice(colon + 1), REGISTRY_FORM);
    rest = rest.slice(0, colon);
  }
  if (rest.length === 0) throw invalid(input, 'the repository name is missing');

  const firstSlash = rest.indexOf('/');
  const first = firstSlash < 0 ? '' : rest.slice(0, firstSlash);
  const isDomain =
    firstSlash >= 0 &&
    (first.includes('.') || first.includes(':') || first === 'localhost' || first.startsWith('['));
  let registry: string;
  let repository: string;
  if (isDomain) {
    registry = checkRegistryHost(input, first);
    repository = rest.slice(firstSlash + 1);
  } else {
    registry = DOCKER_HUB_REGISTRY;
    repository = rest;
  }
  if (DOCKER_HUB_ALIASES.has(registry.toLowerCase())) {
    registry = DOCKER_HUB_REGISTRY;
    if (!repository.includes('/')) repository = `library/${repository}`;
  }
  checkRepository(input, repository);
  if (registry.length + 1 + repository.length > MAX_NAME_LENGTH) {
    throw invalid(
      input,
      `the name "${registry}/${repository}" is ${registry.length + 1 + repository.length} characters long (at most ${MAX_NAME_LENGTH})`,
    );
  }
  return {
    kind: 'registry',
    registry,
    repository,
    ...(tag === undefined ? {} : { tag }),
    ...(digest ? { digest } : {}),
  };
}

function checkDigest(input: string, value: string, form: string): Digest {
  if (!isDigest(value)) {
    throw invalid(
      input,
      `the digest "${value}" is not valid (expected ALGORITHM:HEX, e.g. sha256:<64 hex>)`,
      form,
    );
  }
  return value;
}

function checkTag(input: string, value: string, form: string): string {
  if (value.length === 0) throw invalid(input, 'the tag after ":" is empty', form);
  if (!TAG.test(value)) {
    throw invalid(
      input,
      `the tag "${value}" is not valid (letters, digits, "_", "." and "-", not starting with "." or "-", at most 128 characters)`,
      form,
    );
  }
  return value;
}

function checkRegistryHost(input: string, host: string): string {
  let name = host;
  let port: string | undefined;
  if (host.startsWith('[')) {
    const close = host.indexOf(']');
    name = close < 0 ? host : host.slice(0, close + 1);
    const after = close < 0 ? '' : host.slice(close + 1);
    if (after.startsWith(':')) port = after.slice(1);
    else if (after.length > 0) name = host;
    if (!IPV6_LITERAL.test(name)) {
      throw invalid(input, `the registry host "${host}" is not a valid [IPv6] address`);
    }
  } else {
    const colon = host.lastIndexOf(':');
    if (colon >= 0) {
      name = host.slice(0, colon);
      port = host.slice(colon + 1);
    }
    if (name.length === 0 || !name.split('.').every((label) => DOMAIN_LABEL.test(label))) {
      throw invalid(
        input,
        `the registry host "${name}" is not a valid host name (letters, digits and "-" in dot-separated labels)`,
      );
    }
  }
  if (port !== undefined && (!PORT.test(port) || Number(port) < 1 || Number(port) > 65535)) {
    throw invalid(input, `the registry port "${port}" is not a number from 1 to 65535`);
  }
  return host;
}

function checkRepository(input: string, repository: string): void {
  for (const component of repository.split('/')) {
    if (!PATH_COMPONENT.test(component)) {
      throw invalid(
        input,
        `the repository "${repository}" is not valid: "${component}" must be lowercase letters and digits, separated by ".", "_", "__" or "-"`,
      );
    }
  }
}

/** The reference with tag `latest` when it names neither a tag nor a digest (Docker's default). */
export function withDefaultTag<R extends Reference>(ref: R, tag = 'latest'): R {
  if (ref.tag !== undefined || ref.digest !== undefined) return ref;
  return { ...ref, tag };
}

/** The canonical text form; parseReference(formatReference(r)) deep-equals r. */
export function formatReference(ref: Reference): string {
  const suffix = `${ref.tag === undefined ? '' : `:${ref.tag}`}${ref.digest === undefined ? '' : `@${ref.digest}`}`;
  if (ref.kind === 'layout') return `oci:${ref.dir}${suffix}`;
  return `${ref.registry}/${ref.repository}${suffix}`;
}

/**
 * Whether a registry host (with or without port) is a loopback address: `localhost`, 127.0.0.0/8
 * or [::1]. Those default to plain HTTP, as docker, oras and crane do.
 */
export function isLoopbackRegistry(host: string): boolean {
  let name = host.toLowerCase();
  if (name.startsWith('[')) {
    name = name.slice(1, name.indexOf(']') < 0 ? undefined : name.indexOf(']'));
    return name === '::1' || /^(0{1,4}:){7}0{0,3}1$/.test(name) || name === '0:0:0:0:0:0:0:1';
  }
  if (name === '::1') return true;
  const colon = name.lastIndexOf(':');
  if (colon >= 0) name = name.slice(0, colon);
  if (name === 'localhost' || name.endsWith('.localhost')) return true;
  const octets = name.split('.');
  return (
    octets.length === 4 &&
    octets[0] === '127' &&
    octets.every((o) => /^[0-9]{1,3}$/.test(o) && Number(o) <= 255)
  );
}
