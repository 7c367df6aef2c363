import type { Dispatcher } from 'undici';
import { requestUrl } from '../undici-core.ts';
import { KartError } from '../../errors.ts';
import { readBounded } from '../../oci/bounded-read.ts';
import { checkShape, looseObject, number, optional, string } from '../../oci/json-shape.ts';
import type { Credential } from '../credentials/credential.ts';

/**
 * One token request to a Bearer realm (the distribution token spec). With an identity token: POST the
 * OAuth2 form `grant_type=refresh_token`, and fall back to GET with Basic when the server 404s the POST
 * (not every token server speaks OAuth2). Otherwise GET `realm?service=&scope=…` with Basic
 * credentials, or anonymously. The answer is size-capped and shape-checked; `access_token` wins over
 * `token`. Secrets go only into headers and bodies, never into URLs, errors or log lines.
 */
export interface TokenRequest {
  realm: URL;
  service: string | undefined;
  scopes: readonly string[];
  credential: Credential | undefined;
  /** host[:port] of the registry, for messages. */
  registry: string;
  dispatcher?: Dispatcher;
  clientId?: string;
  log?: (line: string) => void;
  /** the whole token request, redirects and answer included, ends within this (ms). Default 60 s. */
  timeoutMs?: number;
}

export interface IssuedToken {
  token: string;
  /** As the server said, before kart's floor of 60 s. */
  expiresInSeconds: number | undefined;
  refreshToken: string | undefined;
}

const MAX_TOKEN_RESPONSE_BYTES = 1024 * 1024;
const DEFAULT_TOKEN_TIMEOUT_MS = 60_000;
const MAX_REDIRECTS = 5;

const TokenResponseSchema = looseObject({
  token: optional(string()),
  access_token: optional(string()),
  expires_in: optional(number()),
  issued_at: optional(string()),
  refresh_token: optional(string()),
});

function realmForMessages(realm: URL): string {
  return `${realm.origin}${realm.pathname}`;
}

function tokenFailed(req: TokenRequest, what: string, cause?: unknown): KartError {
  return new KartError(
    'AUTH_TOKEN_FAILED',
    `registry ${req.registry}: the token service ${realmForMessages(req.realm)} ${what}`,
    {
      exitCode: 3,
      hint: 'check that the registry and its token service are reachable and working; retry later',
      ...(cause === undefined ? {} : { cause }),
    },
  );
}

function basicHeader(user: string, secret: string): string {
  return `Basic ${Buffer.from(`${user}:${secret}`, 'utf8').toString('base64')}`;
}

export async function requestToken(request: TokenRequest): Promise<IssuedToken> {
  // A token service that trickles its answer (or its error page) forever is cut at the deadline.
  const timeoutMs = request.timeoutMs ?? DEFAULT_TOKEN_TIMEOUT_MS;
  const signal = AbortSignal.timeout(timeoutMs);
  const req: BoundedTokenRequest = { ...request, signal };
  try {
    return await requestTokenWithin(req);
  } catch (error) {
    if (signal.aborted && !(error instanceof KartError && error.code === 'AUTH_DENIED')) {
      throw tokenFailed(req, `did not answer within ${timeoutMs / 1000} s`, error);
    }
    throw error;
  }
}

type BoundedTokenRequest = TokenRequest & { signal: AbortSignal };

async function requestTokenWithin(req: BoundedTokenRequest): Promise<IssuedToken> {
  const credential = req.credential;
  if (credential?.identityToken !== undefined) {
    const posted = await postRefreshGrant(req, credential.identityToken);
    if (posted !== 'not-found') return posted;
    req.log?.(`auth: ${realmForMessages(req.realm)} does not take OAuth2 POSTs; falling back to GET`);
    return getToken(req, basicHeader(credential.username ?? '<token>', credential.identityToken));
  }
  const authorization =
    credential?.password !== undefined
      ? basicHeader(credential.username ?? '', credential.password)
      : undefined;
  return getToken(req, authorization);
}

async function getToken(req: BoundedTokenRequest, authorization: string | undefined): Promise<IssuedToken> {
  let url = new URL(req.realm);
  if (req.service !== undefined) url.searchParams.set('service', req.service);
  for (const scope of req.scopes) url.searchParams.append('scope', scope);
  const origin = url.origin;
  req.log?.(
    `auth: GET token from ${realmForMessages(req.realm)} for ${req.scopes.join(' ') || '(no scope)'} ${authorization ? 'with credentials' : 'anonymously'}`,
  );
  for (let hop = 0; ; hop++) {
    // Authorization goes only to the realm's own origin, never along a redirect to another one.
    const headers: Record<string, string> = { accept: 'application/json' };
    if (authorization !== undefined && url.origin === origin) headers.authorization = authorization;
    const answer = await send(req, url, { method: 'GET', headers });
    if (answer.statusCode >= 300 && answer.statusCode < 400 && answer.headers.location !== undefined) {
      await answer.body.dump();
      if (hop >= MAX_REDIRECTS) throw tokenFailed(req, `redirected more than ${MAX_REDIRECTS} times`);
      const next = new URL(String(answer.headers.location), url);
      if (next.protocol !== 'https:' && next.protocol !== 'http:') {
        throw tokenFailed(req, 'redirected to a URL that is not http(s)');
      }
      if (url.protocol === 'https:' && next.protocol === 'http:') {
        throw tokenFailed(req, 'redirected from https to plain http');
      }
      url = next;
      continue;
    }
    return readTokenAnswer(req, answer, authorization !== undefined, credentialUser(req));
  }
}

async function postRefreshGrant(
  req: BoundedTokenRequest,
  refreshToken: string,
): Promise<IssuedToken | 'not-found'> {
  const form = new URLSearchParams({
    grant_type: 'refresh_token',
    refresh_token: refreshToken,
    client_id: req.clientId ?? 'kart',
  });
  if (req.service !== undefined) form.set('service', req.service);
  if (req.scopes.length > 0) form.set('scope', req.scopes.join(' '));
  req.log?.(
    `auth: POST refresh_token grant to ${realmForMessages(req.realm)} for ${req.scopes.join(' ') || '(no scope)'}`,
  );
  const answer = await send(req, req.realm, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
    body: form.toString(),
  });
  if (answer.statusCode === 404) {
    await answer.body.dump();
    return 'not-found';
  }
  return readTokenAnswer(req, answer, true, credentialUser(req));
}

function credentialUser(req: TokenRequest): string | undefined {
  return req.credential?.identityToken !== undefined ? undefined : req.credential?.username;
}

async function send(
  req: BoundedTokenRequest,
  url: URL,
  options: { method: 'GET' | 'POST'; headers: Record<string, string>; body?: string },
): Promise<Dispatcher.ResponseData> {
  try {
    return await requestUrl(url, {
      ...options,
      ...(req.dispatcher === undefined ? {} : { dispatcher: req.dispatcher }),
      headersTimeout: 30_000,
      bodyTimeout: 30_000,
      signal: req.signal,
    });
  } catch (error) {
    const code = (error as { code?: string }).code;
    throw tokenFailed(req, `could not be reached${code ? ` (${code})` : ''}`, error);
  }
}

async function readTokenAnswer(
  req: TokenRequest,
  answer: Dispatcher.ResponseData,
  sentCredentials: boolean,
  user: string | undefined,
): Promise<IssuedToken> {
  if (answer.statusCode === 401 || answer.statusCode === 403) {
    await answer.body.dump();
    throw new KartError(
      'AUTH_DENIED',
      sentCredentials
        ? `registry ${req.registry}: the token service ${realmForMessages(req.realm)} refused the credentials${user ? ` of user "${user}"` : ''} (HTTP ${answer.statusCode})`
        : `registry ${req.registry}: the token service ${realmForMessages(req.realm)} refused anonymous access (HTTP ${answer.statusCode})`,
      {
        exitCode: 3,
        hint: sentCredentials
          ? `check the user name and password; run \`kart login ${req.registry}\` again`
          : `log in first: \`kart login ${req.registry} -u USER --password-stdin\``,
        details: { registry: req.registry, status: answer.statusCode },
      },
    );
  }
  if (answer.statusCode !== 200) {
    await answer.body.dump();
    throw tokenFailed(req, `answered HTTP ${answer.statusCode}`);
  }
  let bytes: Buffer;
  try {
    bytes = await readBounded(answer.body, MAX_TOKEN_RESPONSE_BYTES, () =>
      tokenFailed(req, `answered with more than ${MAX_TOKEN_RESPONSE_BYTES} bytes`),
    );
  } catch (error) {
    if (error instanceof KartError) throw error;
    throw tokenFailed(req, 'broke off its answer', error);
  }
  let json: unknown;
  try {
    json = JSON.parse(bytes.toString('utf8'));
  } catch {
    throw tokenFailed(req, 'answered with something that is not JSON');
  }
  const parsed = checkShape(TokenResponseSchema, json);
  if (!parsed.ok) {
    const { path, reason } = parsed.mismatch;
    throw tokenFailed(req, `answered with an invalid field "${path.join('.')}": ${reason}`);
  }
  const token = parsed.value.access_token || parsed.value.token;
  if (!token) throw tokenFailed(req, 'answered without a token or access_token');
  if (/[\r\n]/.test(token)) throw tokenFailed(req, 'answered with a token that cannot be sent in a header');
  return { token, expiresInSeconds: parsed.value.expires_in, refreshToken: parsed.value.refresh_token };
}
