import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { request } from 'undici';
import type { Authorizer } from '../../../src/registry/authorizer.ts';
import { createAuthorizer } from '../../../src/registry/auth/create-authorizer.ts';
import { staticCredentials } from '../../../src/registry/credentials/credential.ts';
import { KartError } from '../../../src/errors.ts';
import { startAuthRegistry, type AuthRegistry, type TestUsers } from '../../support/registry-auth.ts';

const PASSWORD = 'Pa55-word-never-shown';
const USERS: TestUsers = {
  alice: {
    password: PASSWORD,
    access: { 'acme/k': ['pull', 'push'], 'acme/ro': ['pull'] },
    identityToken: 'idtok-alice-secret',
  },
};

/** What the transport does: authorize up front, on 401 complete the challenge and retry once. */
async function send(authorizer: Authorizer, method: string, url: URL, scopes: string[]) {
  const first = await authorizer.authorize(url, scopes);
  let answer = await request(url, { method, headers: first ? { authorization: first } : {} });
  if (answer.statusCode !== 401) {
    await answer.body.dump();
    return { status: answer.statusCode, header: first };
  }
  await answer.body.dump();
  const retryWith = await authorizer.challenge(url, String(answer.headers['www-authenticate']), scopes);
  if (retryWith === undefined) return { status: 401, header: undefined };
  answer = await request(url, { method, headers: { authorization: retryWith } });
  await answer.body.dump();
  return { status: answer.statusCode, header: retryWith };
}

const tagsUrl = (base: string, repo: string) => new URL(`${base}/v2/${repo}/tags/list`);

describe('distribution token auth: the registry verifies kart-fetched JWTs and enforces their scopes', () => {
  let auth: AuthRegistry;
  beforeAll(async () => {
    auth = await startAuthRegistry('token', USERS);
  });
  afterAll(async () => auth?.stop());

  it('gets a pull token for the repository it asks for (404 NAME_UNKNOWN means authorized)', async () => {
    const authorizer = createAuthorizer({
      credentials: staticCredentials({ [auth.registry.host]: { username: 'alice', password: PASSWORD } }),
    });
    const result = await send(authorizer, 'GET', tagsUrl(auth.registry.url, 'acme/k'), [
      'repository:acme/k:pull',
    ]);
    expect(result.status).toBe(404);
    const last = auth.tokenServer!.requests.at(-1)!;
    expect(last).toMatchObject({
      method: 'GET',
      user: 'alice',
      scopes: ['repository:acme/k:pull'],
      service: 'kart-test-registry',
    });
    // The token is now cached: the next request is authorized up front, no new token request.
    const before = auth.tokenServer!.requests.length;
    const again = await send(authorizer, 'GET', tagsUrl(auth.registry.url, 'acme/k'), [
      'repository:acme/k:pull',
    ]);
    expect(again.status).toBe(404);
    expect(auth.tokenServer!.requests.length).toBe(before);
  });

  it('a token for one repository does not open another (the registry enforces the scope)', async () => {
    const authorizer = createAuthorizer({
      credentials: staticCredentials({ [auth.registry.host]: { username: 'alice', password: PASSWORD } }),
    });
    const ok = await send(authorizer, 'GET', tagsUrl(auth.registry.url, 'acme/k'), [
      'repository:acme/k:pull',
    ]);
    const other = await request(tagsUrl(auth.registry.url, 'acme/ro'), {
      headers: { authorization: ok.header! },
    });
    await other.body.dump();
    expect(other.statusCode).toBe(401);
    expect(String(other.headers['www-authenticate'])).toContain('scope="repository:acme/ro:pull"');
  });

  it('push needs pull,push: granted where the user may push, refused where not', async () => {
    const authorizer = createAuthorizer({
      credentials: staticCredentials({ [auth.registry.host]: { username: 'alice', password: PASSWORD } }),
    });
    const upload = (repo: string) => new URL(`${auth.registry.url}/v2/${repo}/blobs/uploads/`);
    const pushable = await send(authorizer, 'POST', upload('acme/k'), ['repository:acme/k:pull,push']);
    expect(pushable.status).toBe(202);
    expect(auth.tokenServer!.requests.at(-1)!.scopes).toStrictEqual(['repository:acme/k:pull,push']);
    const readOnly = await send(authorizer, 'POST', upload('acme/ro'), ['repository:acme/ro:pull,push']);
    expect(readOnly.status).toBe(401);
  });

  it('anonymous users get a token without access: the registry refuses them', async () => {
    const authorizer = createAuthorizer();
    const result = await send(authorizer, 'GET', tagsUrl(auth.registry.url, 'acme/k'), [
      'repository:acme/k:pull',
    ]);
    expect(result.status).toBe(401);
    expect(auth.tokenServer!.requests.at(-1)).toMatchObject({ user: undefined, authorized: true });
  });

  it('a wrong password is AUTH_DENIED (exit 3) and the message holds no secret', async () => {
    const authorizer = createAuthorizer({
      credentials: staticCredentials({
        [auth.registry.host]: { username: 'alice', password: 'wrong-' + PASSWORD },
      }),
    });
    const error = await send(authorizer, 'GET', tagsUrl(auth.registry.url, 'acme/k'), [
      'repository:acme/k:pull',
    ]).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(KartError);
    const e = error as KartError;
    expect([e.code, e.exitCode]).toStrictEqual(['AUTH_DENIED', 3]);
    const realm = auth.tokenServer!.realm;
    expect(e.message).toBe(
      `registry ${auth.registry.host}: the token service ${realm} refused the credentials of user "alice" (HTTP 401)`,
    );
    expect(JSON.stringify({ m: e.message, h: e.hint, d: e.details })).not.toContain(PASSWORD);
  });

  it('an identity token goes as a refresh_token POST; on 404 it falls back to GET with Basic', async () => {
    const creds = staticCredentials({ [auth.registry.host]: { identityToken: 'idtok-alice-secret' } });
    const viaPost = await send(
      createAuthorizer({ credentials: creds }),
      'GET',
      tagsUrl(auth.registry.url, 'acme/k'),
      ['repository:acme/k:pull'],
    );
    expect(viaPost.status).toBe(404);
    expect(auth.tokenServer!.requests.at(-1)).toMatchObject({
      method: 'POST',
      grantType: 'refresh_token',
      scopes: ['repository:acme/k:pull'],
      service: 'kart-test-registry',
    });
    auth.tokenServer!.rejectPost = true;
    try {
      const count = auth.tokenServer!.requests.length;
      const viaGet = await send(
        createAuthorizer({ credentials: creds }),
        'GET',
        tagsUrl(auth.registry.url, 'acme/k'),
        ['repository:acme/k:pull'],
      );
      expect(viaGet.status).toBe(404);
      expect(auth.tokenServer!.requests.slice(count).map((r) => [r.method, r.user])).toStrictEqual([
        ['POST', '<refresh>'],
        ['GET', '<token>'],
      ]);
    } finally {
      auth.tokenServer!.rejectPost = false;
    }
  });

  /** An authorizer with alice's credentials, and the Bearer challenge an anonymous GET of acme/k got. */
  async function aliceAfterFirstChallenge() {
    const authorizer = createAuthorizer({
      credentials: staticCredentials({ [auth.registry.host]: { username: 'alice', password: PASSWORD } }),
    });
    const url = tagsUrl(auth.registry.url, 'acme/k');
    const first = await request(url);
    await first.body.dump();
    return { authorizer, url, header: String(first.headers['www-authenticate']) };
  }

  it('concurrent requests for the same scopes share one token request', async () => {
    const { authorizer, url, header } = await aliceAfterFirstChallenge();
    const before = auth.tokenServer!.requests.length;
    const headers = await Promise.all(
      Array.from({ length: 8 }, () => authorizer.challenge(url, header, ['repository:acme/k:pull'])),
    );
    expect(auth.tokenServer!.requests.length - before).toBe(1);
    expect(new Set(headers).size).toBe(1);
  });

  it('a 401 to a request that went out before the token arrived keeps that token; a refused token is dropped', async () => {
    const { authorizer, url, header } = await aliceAfterFirstChallenge();
    const before = auth.tokenServer!.requests.length;
    const token = await authorizer.challenge(url, header, ['repository:acme/k:pull']);
    // Late 401s of requests sent anonymously alongside the first: the token just issued is handed out.
    const late = await Promise.all(
      Array.from({ length: 3 }, () =>
        authorizer.challenge(url, header, ['repository:acme/k:pull'], undefined),
      ),
    );
    expect(late).toEqual([token, token, token]);
    expect(auth.tokenServer!.requests.length - before).toBe(1);
    // The registry refused the token itself: it is never handed back, a new one is asked for.
    await authorizer.challenge(url, header, ['repository:acme/k:pull'], token);
    expect(auth.tokenServer!.requests.length - before).toBe(2);
  });

  it('expired tokens are renewed (expires_in below 60 counts as 60, renewed 5 s early)', async () => {
    let now = 1_000_000;
    auth.tokenServer!.expiresIn = 10;
    try {
      const authorizer = createAuthorizer({
        now: () => now,
        credentials: staticCredentials({ [auth.registry.host]: { username: 'alice', password: PASSWORD } }),
      });
      const url = tagsUrl(auth.registry.url, 'acme/k');
      await send(authorizer, 'GET', url, ['repository:acme/k:pull']);
      const count = auth.tokenServer!.requests.length;
      now += 54_000; // 60 s floor − 5 s early renewal = 55 s of use
      expect(await authorizer.authorize(url, ['repository:acme/k:pull'])).toMatch(/^Bearer /);
      expect(auth.tokenServer!.requests.length).toBe(count);
      now += 2_000;
      expect(await authorizer.authorize(url, ['repository:acme/k:pull'])).toMatch(/^Bearer /);
      expect(auth.tokenServer!.requests.length).toBe(count + 1);
    } finally {
      auth.tokenServer!.expiresIn = 300;
    }
  });
});

describe('htpasswd Basic auth', () => {
  let auth: AuthRegistry;
  beforeAll(async () => {
    auth = await startAuthRegistry('htpasswd', USERS);
  });
  afterAll(async () => auth?.stop());

  it('answers the Basic challenge with the host credentials, then authorizes up front', async () => {
    const authorizer = createAuthorizer({
      credentials: staticCredentials({ [auth.registry.host]: { username: 'alice', password: PASSWORD } }),
    });
    const url = tagsUrl(auth.registry.url, 'acme/k');
    const result = await send(authorizer, 'GET', url, ['repository:acme/k:pull']);
    expect(result.status).toBe(404);
    expect(result.header).toBe(`Basic ${Buffer.from(`alice:${PASSWORD}`).toString('base64')}`);
    expect(await authorizer.authorize(url, [])).toBe(result.header);
    // Never to another origin: the same host on another port is a stranger.
    const other = new URL(url);
    other.port = String(Number(url.port) + 1);
    expect(await authorizer.authorize(other, [])).toBeUndefined();
  });

  it('wrong password: the registry still answers 401 after the retry', async () => {
    const authorizer = createAuthorizer({
      credentials: staticCredentials({ [auth.registry.host]: { username: 'alice', password: 'nope' } }),
    });
    expect((await send(authorizer, 'GET', tagsUrl(auth.registry.url, 'acme/k'), [])).status).toBe(401);
  });

  it('no credentials: challenge gives up (undefined) instead of guessing', async () => {
    expect((await send(createAuthorizer(), 'GET', tagsUrl(auth.registry.url, 'acme/k'), [])).status).toBe(
      401,
    );
  });
});

describe('silly auth with a token endpoint', () => {
  let auth: AuthRegistry;
  beforeAll(async () => {
    auth = await startAuthRegistry('silly', USERS);
  });
  afterAll(async () => auth?.stop());

  it('follows realm/service/scope from the challenge and sends the token back', async () => {
    const authorizer = createAuthorizer({
      credentials: staticCredentials({ [auth.registry.host]: { username: 'alice', password: PASSWORD } }),
    });
    const result = await send(authorizer, 'GET', tagsUrl(auth.registry.url, 'acme/k'), []);
    expect(result.status).toBe(404);
    expect(result.header).toMatch(/^Bearer opaque-[0-9a-f]{24}$/);
    expect(auth.tokenServer!.requests.at(-1)).toMatchObject({
      user: 'alice',
      scopes: ['repository:acme/k:pull'],
      service: 'kart-test-registry',
    });
  });
});
