/**
 * The auth side of the test registry: an htpasswd file, a self-signed signing certificate, and a small
 * token endpoint, so startRegistry() (test/support/registry.ts) can run with `htpasswd`, `silly` or
 * distribution's real `token` auth, where the registry itself verifies our signed JWTs and enforces
 * the scopes they grant.
 *
 *   const auth = await startAuthRegistry('token', { alice: { password: 's3cret', access: { 'acme/k': ['pull'] } } });
 *   ... auth.registry.url, auth.tokenServer?.requests ...
 *   await auth.stop();
 */
import { execFileSync } from 'node:child_process';
import { createPrivateKey, randomBytes, sign, type KeyObject } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startRegistry, type TestRegistry } from './registry.ts';
import { makeSelfSignedCert } from './self-signed-cert.ts';

export interface TestUser {
  password: string;
  /** repository → actions the token service grants (token mode); htpasswd grants everything. */
  access?: Record<string, string[]>;
  /** an identity (refresh) token accepted by the POST grant */
  identityToken?: string;
}
export type TestUsers = Record<string, TestUser>;

export interface TokenRequestRecord {
  method: string;
  /** user name from Basic auth, `<refresh>` for a refresh_token grant, undefined when anonymous */
  user: string | undefined;
  scopes: string[];
  service: string | null;
  grantType: string | null;
  authorized: boolean;
}

export interface TokenServer {
  realm: string;
  service: string;
  requests: TokenRequestRecord[];
  /** what later answers carry as expires_in (undefined: omitted) */
  expiresIn: number | undefined;
  /** answer POSTs with 404 (a token server that speaks no OAuth2) */
  rejectPost: boolean;
  stop(): Promise<void>;
}

export function writeHtpasswd(dir: string, users: TestUsers): string {
  const lines = Object.entries(users).map(([user, { password }]) =>
    execFileSync('htpasswd', ['-Bbn', user, password], { encoding: 'utf8' }).trim(),
  );
  const path = join(dir, 'htpasswd');
  writeFileSync(path, `${lines.join('\n')}\n`);
  return path;
}

export interface SigningCert {
  certPath: string;
  key: KeyObject;
  /** base64 DER of the certificate, for the JWT x5c header */
  certDer: string;
}

/** A self-signed P-256 certificate; the registry trusts it as its token root. */
export function makeSigningCert(dir: string): SigningCert {
  const { certPath, keyPath } = makeSelfSignedCert(dir, 'kart-test-token-issuer');
  const pem = readFileSync(certPath, 'utf8');
  const certDer = pem.replace(/-----(BEGIN|END) CERTIFICATE-----|\s/g, '');
  return { certPath, key: createPrivateKey(readFileSync(keyPath)), certDer };
}

const b64url = (data: Buffer | string) => Buffer.from(data).toString('base64url');

function signJwt(cert: SigningCert, claims: Record<string, unknown>): string {
  const header = b64url(JSON.stringify({ typ: 'JWT', alg: 'ES256', x5c: [cert.certDer] }));
  const payload = b64url(JSON.stringify(claims));
  const signature = sign('sha256', Buffer.from(`${header}.${payload}`), {
    key: cert.key,
    dsaEncoding: 'ieee-p1363',
  });
  return `${header}.${payload}.${b64url(signature)}`;
}

function basicUser(
  req: IncomingMessage,
  users: TestUsers,
): { user: string | undefined; ok: boolean; account?: TestUser } {
  const header = req.headers.authorization;
  if (header === undefined) return { user: undefined, ok: true };
  const match = /^Basic (.+)$/.exec(header);
  if (!match) return { user: undefined, ok: false };
  const decoded = Buffer.from(match[1]!, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  const user = decoded.slice(0, colon);
  const secret = decoded.slice(colon + 1);
  // docker's convention: user `<token>` with an identity token as the password.
  const known =
    user === '<token>' ? Object.values(users).find((u) => u.identityToken === secret) : users[user];
  const ok = known !== undefined && (known.password === secret || known.identityToken === secret);
  return { user, ok, ...(known ? { account: known } : {}) };
}

/** Grants = requested scopes intersected with the user's access list. */
function grant(scopes: string[], user: TestUser | undefined) {
  const access: Array<{ type: string; name: string; actions: string[] }> = [];
  for (const scope of scopes) {
    const [type, name, actions] = scope.split(':');
    if (type !== 'repository' || name === undefined || actions === undefined) continue;
    const allowed = user?.access?.[name] ?? [];
    const granted = actions.split(',').filter((a) => allowed.includes(a));
    if (granted.length > 0) access.push({ type, name, actions: granted });
  }
  return access;
}

export async function startTokenServer(options: {
  users: TestUsers;
  service: string;
  issuer: string;
  cert?: SigningCert;
}): Promise<TokenServer> {
  const requests: TokenRequestRecord[] = [];
  const state = { expiresIn: 300 as number | undefined, rejectPost: false };
  const answer = (res: ServerResponse, user: TestUser | undefined, subject: string, scopes: string[]) => {
    const now = Math.floor(Date.now() / 1000);
    const token = options.cert
      ? signJwt(options.cert, {
          iss: options.issuer,
          sub: subject,
          aud: options.service,
          iat: now - 5,
          nbf: now - 5,
          exp: now + 600,
          jti: randomBytes(8).toString('hex'),
          access: grant(scopes, user),
        })
      : `opaque-${randomBytes(12).toString('hex')}`;
    res.setHeader('content-type', 'application/json');
    res.end(
      JSON.stringify({
        access_token: token,
        ...(state.expiresIn === undefined ? {} : { expires_in: state.expiresIn }),
      }),
    );
  };
  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://token.test');
    if (req.method === 'POST') {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const form = new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
        const scopes = (form.get('scope') ?? '').split(' ').filter((s) => s !== '');
        const entry = Object.entries(options.users).find(
          ([, u]) => u.identityToken === form.get('refresh_token'),
        );
        const record: TokenRequestRecord = {
          method: 'POST',
          user: '<refresh>',
          scopes,
          service: form.get('service'),
          grantType: form.get('grant_type'),
          authorized: entry !== undefined && !state.rejectPost,
        };
        requests.push(record);
        if (state.rejectPost) {
          res.statusCode = 404;
          res.end('not found');
          return;
        }
        if (entry === undefined || form.get('grant_type') !== 'refresh_token') {
          res.statusCode = 401;
          res.end('{"error":"invalid_grant"}');
          return;
        }
        answer(res, entry[1], entry[0], scopes);
      });
      return;
    }
    const scopes = url.searchParams.getAll('scope');
    const { user, ok, account } = basicUser(req, options.users);
    requests.push({
      method: req.method ?? 'GET',
      user,
      scopes,
      service: url.searchParams.get('service'),
      grantType: null,
      authorized: ok,
    });
    if (!ok) {
      res.statusCode = 401;
      res.setHeader('content-type', 'application/json');
      res.end('{"details":"incorrect username or password"}');
      return;
    }
    answer(res, account, user ?? 'anonymous', scopes);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    realm: `http://127.0.0.1:${port}/token`,
    service: options.service,
    requests,
    get expiresIn() {
      return state.expiresIn;
    },
    set expiresIn(v) {
      state.expiresIn = v;
    },
    get rejectPost() {
      return state.rejectPost;
    },
    set rejectPost(v) {
      state.rejectPost = v;
    },
    stop: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

export interface AuthRegistry {
  registry: TestRegistry;
  tokenServer: TokenServer | undefined;
  stop(): Promise<void>;
}

export async function startAuthRegistry(
  mode: 'htpasswd' | 'silly' | 'token',
  users: TestUsers,
): Promise<AuthRegistry> {
  const dir = mkdtempSync(join(tmpdir(), 'kart-auth-'));
  let tokenServer: TokenServer | undefined;
  let registry: TestRegistry;
  try {
    if (mode === 'htpasswd') {
      registry = await startRegistry({
        auth: 'htpasswd',
        authOptions: { htpasswdPath: writeHtpasswd(dir, users) },
      });
    } else {
      const cert = mode === 'token' ? makeSigningCert(dir) : undefined;
      const issuer = 'kart-test-issuer';
      tokenServer = await startTokenServer({
        users,
        service: 'kart-test-registry',
        issuer,
        ...(cert ? { cert } : {}),
      });
      registry = await startRegistry({
        auth: mode,
        authOptions: {
          realm: tokenServer.realm,
          service: tokenServer.service,
          ...(cert ? { issuer, rootCertBundle: cert.certPath } : {}),
        },
      });
    }
  } catch (error) {
    await tokenServer?.stop();
    rmSync(dir, { recursive: true, force: true });
    throw error;
  }
  return {
    registry,
    tokenServer,
    async stop() {
      await registry.stop();
      await tokenServer?.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
