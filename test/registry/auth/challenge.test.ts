import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { parseWwwAuthenticate } from '../../../src/registry/auth/challenge.ts';
import { checkRealm } from '../../../src/registry/auth/realm-policy.ts';
import { createAuthorizer } from '../../../src/registry/auth/create-authorizer.ts';
import { staticCredentials } from '../../../src/registry/credentials/credential.ts';
import { KartError } from '../../../src/errors.ts';

function caught(run: () => unknown): KartError {
  try {
    run();
  } catch (error) {
    expect(error).toBeInstanceOf(KartError);
    return error as KartError;
  }
  throw new Error('expected a KartError');
}

describe('parseWwwAuthenticate', () => {
  it.each([
    [
      'Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/alpine:pull"',
      [
        {
          scheme: 'bearer',
          params: {
            realm: 'https://auth.docker.io/token',
            service: 'registry.docker.io',
            scope: 'repository:library/alpine:pull',
          },
        },
      ],
    ],
    ['Basic realm="Registry Realm"', [{ scheme: 'basic', params: { realm: 'Registry Realm' } }]],
    [
      'Bearer realm="r",scope="repository:a:pull,push repository:b:pull"',
      [{ scheme: 'bearer', params: { realm: 'r', scope: 'repository:a:pull,push repository:b:pull' } }],
    ],
    ['bearer REALM=r , Service = "s\\"q"', [{ scheme: 'bearer', params: { realm: 'r', service: 's"q' } }]],
    [
      'Basic realm="x", Bearer realm="y", error="insufficient_scope"',
      [
        { scheme: 'basic', params: { realm: 'x' } },
        { scheme: 'bearer', params: { realm: 'y', error: 'insufficient_scope' } },
      ],
    ],
    [
      'Negotiate, Basic realm="a,b"',
      [
        { scheme: 'negotiate', params: {} },
        { scheme: 'basic', params: { realm: 'a,b' } },
      ],
    ],
    ['Basic abc123==', [{ scheme: 'basic', params: {}, token68: 'abc123==' }]],
    ['Bearer realm="first",realm="second"', [{ scheme: 'bearer', params: { realm: 'first' } }]],
    ['Bearer realm=""', [{ scheme: 'bearer', params: { realm: '' } }]],
  ])('%s', (header, expected) => {
    expect(parseWwwAuthenticate(header)).toStrictEqual(expected);
  });

  it.each([
    ['', "the registry's WWW-Authenticate header is malformed: it is empty"],
    [
      'Bearer realm="open',
      "the registry's WWW-Authenticate header is malformed: a quoted value is not closed",
    ],
    [
      'Bearer realm="a" service="b"',
      'the registry\'s WWW-Authenticate header is malformed: expected "," after the parameter "realm"',
    ],
    [
      '"Bearer"',
      'the registry\'s WWW-Authenticate header is malformed: unexpected character """ where a scheme should be',
    ],
    [
      'Bearer realm=@',
      'the registry\'s WWW-Authenticate header is malformed: expected "," after the parameter "realm"',
    ],
    ['x'.repeat(16385), "the registry's WWW-Authenticate header is malformed: longer than 16384 characters"],
  ])('rejects %j', (header, message) => {
    const e = caught(() => parseWwwAuthenticate(header));
    expect([e.code, e.message, e.exitCode]).toStrictEqual(['AUTH_CHALLENGE_INVALID', message, 3]);
  });

  it('any input parses or raises AUTH_CHALLENGE_INVALID (fuzz)', () => {
    const alphabet = fc.constantFrom(...'Bearer Basic realm="\\,= \t\'abc:/'.split(''));
    fc.assert(
      fc.property(
        fc.oneof(fc.string({ maxLength: 120 }), fc.string({ unit: alphabet, maxLength: 120 })),
        (header) => {
          try {
            const challenges = parseWwwAuthenticate(header);
            expect(challenges.length).toBeGreaterThan(0);
            for (const c of challenges) expect(c.scheme).toMatch(/^[!#$%&'*+.^_`|~0-9a-z-]+$/);
          } catch (error) {
            expect((error as KartError).code).toBe('AUTH_CHALLENGE_INVALID');
          }
        },
      ),
      { numRuns: 3000 },
    );
  });
});

describe('realm hardening', () => {
  const httpsRegistry = new URL('https://registry.example/v2/');
  it.each([
    [
      'ftp://auth.example/token',
      httpsRegistry,
      'token realm "ftp://auth.example/token" of registry.example is not an http(s) URL',
    ],
    ['not a url', httpsRegistry, 'token realm "not a url" of registry.example is not a URL'],
    [
      'http://auth.example/token',
      httpsRegistry,
      'token realm "http://auth.example/token" of registry.example is plain http while the registry is https; credentials would travel unencrypted',
    ],
    [
      'https://127.0.0.1:9/token',
      httpsRegistry,
      'token realm "https://127.0.0.1:9/token" of registry.example points at a loopback, link-local or private address',
    ],
    [
      'https://169.254.169.254/latest',
      httpsRegistry,
      'token realm "https://169.254.169.254/latest" of registry.example points at a loopback, link-local or private address',
    ],
    [
      'https://[::1]/t',
      httpsRegistry,
      'token realm "https://[::1]/t" of registry.example points at a loopback, link-local or private address',
    ],
  ])('rejects %s', (realm, registry, message) => {
    const e = caught(() => checkRealm(realm, registry));
    expect([e.code, e.message, e.exitCode]).toStrictEqual(['AUTH_REALM_REJECTED', message, 3]);
  });

  it('accepts https realms, http realms of http registries, internal realms of internal registries, trusted hosts', () => {
    expect(checkRealm('https://auth.example/token', httpsRegistry).href).toBe('https://auth.example/token');
    expect(checkRealm('http://127.0.0.1:5001/t', new URL('http://127.0.0.1:5000/v2/')).port).toBe('5001');
    expect(checkRealm('https://10.0.0.8/t', httpsRegistry, { trustedRealmHosts: ['10.0.0.8'] }).host).toBe(
      '10.0.0.8',
    );
  });

  it('an https registry offering an http realm: challenge fails before any credential is sent', async () => {
    const lookups: string[] = [];
    const authorizer = createAuthorizer({
      credentials: { get: async (host) => (lookups.push(host), { username: 'u', password: 'p' }) },
    });
    const error = await authorizer
      .challenge(httpsRegistry, 'Bearer realm="http://auth.example/token",service="s"', ['repository:a:pull'])
      .catch((e: unknown) => e);
    expect((error as KartError).code).toBe('AUTH_REALM_REJECTED');
    expect(lookups).toStrictEqual([]);
  });

  it('a Basic header is only ever given for the origin whose credentials it holds', async () => {
    const authorizer = createAuthorizer({
      credentials: staticCredentials({ 'reg.example': { username: 'u', password: 'p' } }),
    });
    expect(await authorizer.challenge(new URL('https://reg.example/v2/'), 'Basic realm="r"', [])).toBe(
      'Basic dTpw',
    );
    expect(await authorizer.authorize(new URL('https://reg.example/v2/x'), [])).toBe('Basic dTpw');
    expect(await authorizer.authorize(new URL('https://storage.example/blob'), [])).toBeUndefined();
    expect(await authorizer.authorize(new URL('http://reg.example/v2/x'), [])).toBeUndefined();
    expect(
      await authorizer.challenge(new URL('https://storage.example/blob'), 'Basic realm="r"', []),
    ).toBeUndefined();
  });
});
