import type { Dispatcher } from 'undici';
import type { Authorizer } from '../authorizer.ts';
import type { Credential, CredentialStore } from '../credentials/credential.ts';
import { parseWwwAuthenticate, type Challenge } from './challenge.ts';
import { checkRealm } from './realm-policy.ts';
import { requestToken } from './token-request.ts';
import { TokenCache, normaliseScopes, tokenCacheKey } from './token-cache.ts';

export interface AuthorizerOptions {
  /** Where credentials come from; anonymous everywhere when absent. */
  credentials?: CredentialStore;
  /** undici dispatcher for token requests (proxy, TLS options); undici's global one when absent. */
  dispatcher?: Dispatcher;
  /** --verbose lines; never given a secret. */
  log?: (line: string) => void;
  /** Realm hosts allowed even though they are internal addresses (see realm-policy.ts). */
  trustedRealmHosts?: readonly string[];
  /** OAuth2 client_id for the refresh_token grant. */
  clientId?: string;
  /** A token request ends within this (ms); default 60 s (token-request.ts). */
  tokenTimeoutMs?: number;
  now?: () => number;
}

type BearerScheme = { kind: 'bearer'; realm: URL; service: string | undefined };
type Scheme = { kind: 'basic' } | BearerScheme;

/**
 * The Authorizer the transport calls (src/registry/authorizer.ts). It learns each origin's scheme
 * from its first 401, then authorizes later requests up front: Basic from the host's credentials, or
 * a Bearer token from the cache (fetched once per origin and scope set, shared by concurrent requests).
 * Headers are bound to the origin they were issued for, so nothing is sent to another origin.
 */
export function createAuthorizer(options: AuthorizerOptions = {}): Authorizer {
  const schemes = new Map<string, Scheme>();
  const credentialLookups = new Map<string, Promise<Credential | undefined>>();
  const refreshTokens = new Map<string, string>();
  const tokens = new TokenCache(options.now);

  // A credential helper is a process: ask once per host and run.
  const credentialFor = (host: string): Promise<Credential | undefined> => {
    let lookup = credentialLookups.get(host);
    if (lookup === undefined) {
      lookup = options.credentials?.get(host) ?? Promise.resolve(undefined);
      credentialLookups.set(host, lookup);
      lookup.catch(() => credentialLookups.delete(host));
    }
    return lookup;
  };

  const basic = async (url: URL): Promise<string | undefined> => {
    const credential = await credentialFor(url.host);
    if (credential?.password === undefined) return undefined;
    return `Basic ${Buffer.from(`${credential.username ?? ''}:${credential.password}`, 'utf8').toString('base64')}`;
  };

  const bearer = async (url: URL, scheme: BearerScheme, scopes: string[]) => {
    const credential = await credentialFor(url.host);
    if (credential?.registryToken !== undefined) return `Bearer ${credential.registryToken}`;
    const token = await tokens.obtain(tokenCacheKey(url.origin, scopes), async () => {
      const refreshed = refreshTokens.get(url.host);
      const effective =
        refreshed !== undefined && credential?.identityToken !== undefined
          ? { ...credential, identityToken: refreshed }
          : credential;
      const issued = await requestToken({
        realm: scheme.realm,
        service: scheme.service,
        scopes,
        credential: effective,
        registry: url.host,
        ...(options.dispatcher ? { dispatcher: options.dispatcher } : {}),
        ...(options.clientId ? { clientId: options.clientId } : {}),
        ...(options.tokenTimeoutMs ? { timeoutMs: options.tokenTimeoutMs } : {}),
        ...(options.log ? { log: options.log } : {}),
      });
      if (issued.refreshToken !== undefined && credential?.identityToken !== undefined) {
        refreshTokens.set(url.host, issued.refreshToken);
      }
      return issued;
    });
    return `Bearer ${token}`;
  };

  return {
    async authorize(url, scopes) {
      const scheme = schemes.get(url.origin);
      if (scheme === undefined) return undefined;
      if (scheme.kind === 'basic') return basic(url);
      return bearer(url, scheme, normaliseScopes(scopes));
    },

    async challenge(url, wwwAuthenticate, scopes, refused) {
      const challenges = parseWwwAuthenticate(wwwAuthenticate);
      const bearerChallenge = challenges.find((c) => c.scheme === 'bearer');
      if (bearerChallenge !== undefined) {
        const scheme = bearerScheme(url, bearerChallenge, options);
        schemes.set(url.origin, scheme);
        const wanted = normaliseScopes([...scopes, ...(bearerChallenge.params.scope ?? '').split(' ')]);
        // The token we sent was just refused for these scopes: never hand it back. A request that went
        // out anonymous refused nothing; the token a concurrent challenge just got stays.
        const key = tokenCacheKey(url.origin, wanted);
        if (refused !== undefined && refused === `Bearer ${tokens.get(key) ?? ''}`) tokens.delete(key);
        options.log?.(`auth: ${url.host} challenged with Bearer for ${wanted.join(' ') || '(no scope)'}`);
        return bearer(url, scheme, wanted);
      }
      if (challenges.some((c) => c.scheme === 'basic')) {
        schemes.set(url.origin, { kind: 'basic' });
        options.log?.(`auth: ${url.host} challenged with Basic`);
        return basic(url);
      }
      options.log?.(
        `auth: ${url.host} challenged with ${challenges.map((c) => c.scheme).join(', ')}; not supported`,
      );
      return undefined;
    },
  };
}

function bearerScheme(url: URL, challenge: Challenge, options: AuthorizerOptions): BearerScheme {
  const realm = checkRealm(challenge.params.realm ?? '', url, {
    ...(options.trustedRealmHosts ? { trustedRealmHosts: options.trustedRealmHosts } : {}),
  });
  return { kind: 'bearer', realm, service: challenge.params.service };
}
