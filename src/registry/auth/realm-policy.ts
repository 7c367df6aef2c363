import { isIP } from 'node:net';
import { KartError } from '../../errors.ts';

/**
 * Where kart will send credentials to fetch a token. The realm comes from the registry's 401, so a
 * hostile or compromised registry chooses it: it must be http(s); a registry reached over https never
 * gets an http realm (that would send the password in clear); a plain-http registry (a loopback or
 * --plain-http one) gets an http realm only on its own host, since the password would cross the
 * network in clear to another machine; and a realm that is a loopback,
 * link-local or private IP literal (an SSRF target) is refused unless it is the registry's own host,
 * or the registry itself is on such an address (a test or on-prem setup), or it is explicitly trusted.
 */
export interface RealmPolicyOptions {
  trustedRealmHosts?: readonly string[];
}

function rejected(realm: string, registryUrl: URL, why: string, hint: string): KartError {
  return new KartError('AUTH_REALM_REJECTED', `token realm "${realm}" of ${registryUrl.host} ${why}`, {
    exitCode: 3,
    hint,
    details: { registry: registryUrl.host },
  });
}

export function checkRealm(realm: string, registryUrl: URL, options: RealmPolicyOptions = {}): URL {
  let url: URL;
  try {
    url = new URL(realm);
  } catch {
    throw rejected(realm, registryUrl, 'is not a URL', 'the registry is misconfigured; tell its operator');
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') {
    throw rejected(
      realm,
      registryUrl,
      'is not an http(s) URL',
      'the registry is misconfigured; tell its operator',
    );
  }
  if (url.username !== '' || url.password !== '') {
    throw rejected(
      realm,
      registryUrl,
      'carries user info',
      'the registry is misconfigured; tell its operator',
    );
  }
  if (registryUrl.protocol === 'https:' && url.protocol === 'http:') {
    throw rejected(
      realm,
      registryUrl,
      'is plain http while the registry is https; credentials would travel unencrypted',
      'the registry must offer an https token realm; kart never downgrades',
    );
  }
  if (url.protocol === 'http:' && url.hostname !== registryUrl.hostname) {
    throw rejected(
      realm,
      registryUrl,
      `is plain http on another host than the registry (${url.host}); credentials would travel unencrypted`,
      "a plain-http registry's token realm must be on the registry's own host, or use https",
    );
  }
  const trusted = options.trustedRealmHosts ?? [];
  if (
    isInternalAddress(url.hostname) &&
    url.hostname !== registryUrl.hostname &&
    !isInternalAddress(registryUrl.hostname) &&
    !trusted.includes(url.host) &&
    !trusted.includes(url.hostname)
  ) {
    throw rejected(
      realm,
      registryUrl,
      'points at a loopback, link-local or private address',
      'if this realm is genuine, trust its host explicitly',
    );
  }
  return url;
}

/** Loopback, link-local or private IP literal, or localhost. */
export function isInternalAddress(hostname: string): boolean {
  const host = hostname.replace(/^\[|\]$/g, '').toLowerCase();
  if (host === 'localhost' || host.endsWith('.localhost')) return true;
  const family = isIP(host);
  if (family === 4) {
    const [a, b] = host.split('.').map(Number) as [number, number];
    return (
      a === 127 ||
      a === 10 ||
      a === 0 ||
      (a === 169 && b === 254) ||
      (a === 172 && b >= 16 && b <= 31) ||
      (a === 192 && b === 168)
    );
  }
  if (family === 6) {
    return (
      host === '::1' ||
      host === '::' ||
      /^f[cd]/.test(host) ||
      /^fe[89ab]/.test(host) ||
      host.startsWith('::ffff:')
    );
  }
  return false;
}
