/**
 * Issue 17, defects 1, 2, 13, 15, 16, 17: registries that never stop talking, never answer, ask to
 * wait an hour, cannot resume, echo credentials, or point a plain-http token realm at another host.
 * Every limit is shortened through the client's options, so each case takes well under a second or
 * two; the long forms (real minutes, the CLI's defaults) are in test/hostile/ (npm run test:hostile).
 */
import type { ServerResponse } from 'node:http';
import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { sha256Digest } from '../../src/oci/digest.ts';
import { MediaType } from '../../src/oci/media-types.ts';
import type { Descriptor } from '../../src/oci/schema.ts';
import { createAuthorizer } from '../../src/registry/auth/create-authorizer.ts';
import { checkRealm } from '../../src/registry/auth/realm-policy.ts';
import { staticCredentials } from '../../src/registry/credentials/credential.ts';
import { kartErrorOf } from '../support/kart-error.ts';
import { scriptedRepositories } from '../support/scripted-repository.ts';
import type { Script } from '../support/scripted-server.ts';
import { readAll } from '../registry/kernel-image-fixture.ts';

const { serve, store } = scriptedRepositories({ discardTimeoutMs: 200 });

/** Starts an answer and then sends one byte every `everyMs`, never ending it. */
function trickle(res: ServerResponse, status: number, headers: Record<string, string> = {}, everyMs = 20) {
  res.writeHead(status, headers);
  const timer = setInterval(() => {
    if (res.destroyed) clearInterval(timer);
    else res.write('x');
  }, everyMs);
  res.on('close', () => clearInterval(timer));
}

const manifest = Buffer.from(
  JSON.stringify({
    schemaVersion: 2,
    mediaType: MediaType.OciManifest,
    config: { mediaType: MediaType.OciEmpty, digest: sha256Digest('{}'), size: 2 },
    layers: [],
  }),
);
const manifestDesc: Descriptor = {
  mediaType: MediaType.OciManifest,
  digest: sha256Digest(manifest),
  size: manifest.length,
};
function sendManifest(res: ServerResponse): void {
  res.writeHead(200, { 'content-type': MediaType.OciManifest, 'docker-content-digest': manifestDesc.digest });
  res.end(manifest);
}

const blob = Buffer.from(Array.from({ length: 200_000 }, (_, i) => (i * 131) & 0xff));
const blobDesc: Descriptor = { mediaType: MediaType.OciLayer, digest: sha256Digest(blob), size: blob.length };

describe('defect 1: bodies read only to be dropped or quoted are bounded in bytes and time', () => {
  for (const status of [500, 503, 429]) {
    it(`a ${status} whose body never ends is dropped and the request retried`, async () => {
      const server = await serve((_req, res, i) => (i === 0 ? trickle(res, status) : sendManifest(res)));
      const repo = store(server);
      expect((await repo.fetchManifest('6.1')).descriptor).toEqual(manifestDesc);
      expect(server.requests).toHaveLength(2);
    });
  }

  it('a 307 whose body never ends is followed', async () => {
    const server = await serve((req, res) =>
      req.path.includes('moved') ? sendManifest(res) : trickle(res, 307, { location: '/v2/moved' }),
    );
    expect((await store(server).fetchManifest('6.1')).descriptor).toEqual(manifestDesc);
  });

  it('a 401 challenge whose body never ends is answered', async () => {
    const server = await serve((req, res) =>
      req.headers.authorization
        ? sendManifest(res)
        : trickle(res, 401, { 'www-authenticate': 'Basic realm="r"' }),
    );
    const authorizer = createAuthorizer({
      credentials: staticCredentials({ [server.host]: { username: 'alice', password: 'wonderland' } }),
    });
    expect((await store(server, { authorizer }).fetchManifest('6.1')).descriptor).toEqual(manifestDesc);
  });

  it('an error body that never ends is quoted from its first KiB, and the request fails', async () => {
    const server = await serve((_req, res) => trickle(res, 404, {}, 5));
    const error = await kartErrorOf(store(server).fetchManifest('6.1'));
    expect(error.code).toBe('NOT_FOUND');
    expect(error.exitCode).toBe(3);
  });

  it('a token answer that never ends fails AUTH_TOKEN_FAILED within the token limit', async () => {
    const tokens = await serve((_req, res) => trickle(res, 200, { 'content-type': 'application/json' }));
    const server = await serve((req, res) =>
      req.headers.authorization
        ? sendManifest(res)
        : (res.writeHead(401, { 'www-authenticate': `Bearer realm="${tokens.url}/token",service="s"` }),
          res.end()),
    );
    const authorizer = createAuthorizer({ tokenTimeoutMs: 300 });
    const error = await kartErrorOf(store(server, { authorizer }).fetchManifest('6.1'));
    expect(error.code).toBe('AUTH_TOKEN_FAILED');
    expect(error.message).toContain('did not answer within 0.3 s');
  });

  it('a tags page that never ends fails OPERATION_TIMEOUT (exit 3) at the deadline', async () => {
    const server = await serve((_req, res) => trickle(res, 200, { 'content-type': 'application/json' }));
    const repo = store(server, { timeoutMs: 400 });
    const error = await kartErrorOf(async () => {
      for await (const _tag of repo.tags()) {
        // none arrive
      }
    });
    expect(error.code).toBe('OPERATION_TIMEOUT');
    expect(error.exitCode).toBe(3);
  });
});

describe('defect 2: every operation ends by its deadline', () => {
  it('a blob trickling a byte at a time fails OPERATION_TIMEOUT, not after the idle limit', async () => {
    const server = await serve((_req, res) =>
      trickle(res, 200, { 'content-length': String(blobDesc.size) }, 10),
    );
    const started = Date.now();
    const error = await kartErrorOf(async () =>
      readAll(await store(server, { timeoutMs: 500 }).fetch(blobDesc)),
    );
    expect(error.code).toBe('OPERATION_TIMEOUT');
    expect(error.exitCode).toBe(3);
    expect(Date.now() - started).toBeLessThan(5_000);
    // No resume after the deadline: one request.
    expect(server.requests).toHaveLength(1);
  });

  it('Retry-After: 3600 past the deadline fails at once instead of waiting', async () => {
    const server = await serve((_req, res) => {
      res.writeHead(503, { 'retry-after': '3600' });
      res.end();
    });
    const started = Date.now();
    const error = await kartErrorOf(store(server, { timeoutMs: 2_000 }).fetchManifest('6.1'));
    expect(error.code).toBe('OPERATION_TIMEOUT');
    expect(error.message).toContain('asks to wait 60 s');
    expect(Date.now() - started).toBeLessThan(1_500);
    expect(server.requests).toHaveLength(1);
  });

  it('a registry that accepts and never answers fails after one retry of the first-byte limit', async () => {
    const server = await serve(() => new Promise(() => {}));
    const error = await kartErrorOf(store(server, { firstByteTimeoutMs: 150 }).fetchManifest('6.1'));
    expect(error.code).toBe('TRANSFER_STALLED');
    expect(error.exitCode).toBe(3);
    expect(server.requests).toHaveLength(2);
  });

  it('without --timeout the deadline is a floor plus time for the announced bytes', async () => {
    const { OperationDeadline } = await import('../../src/registry/deadline.ts');
    let now = 0;
    const deadline = new OperationDeadline({ floorMs: 1_000, minBytesPerSecond: 1_000, now: () => now });
    deadline.announce(5_000);
    expect(deadline.budgetMs).toBe(6_000);
    now = 5_999;
    expect(deadline.remainingMs()).toBe(1);
    const fixed = new OperationDeadline({ timeoutMs: 300, now: () => 0 });
    fixed.announce(1e12);
    expect(fixed.budgetMs).toBe(300);
  });
});

describe('defect 13: a registry without Range support', () => {
  it('restarts a cut blob from byte 0 and skips what was already passed on', async () => {
    const server = await serve((_req, res, i) => {
      res.writeHead(200, { 'content-length': String(blob.length) });
      if (i === 0) {
        res.write(blob.subarray(0, 70_000));
        setTimeout(() => res.destroy(), 20);
      } else {
        res.end(blob);
      }
    });
    const bytes = await readAll(await store(server).fetch(blobDesc));
    expect(sha256Digest(bytes)).toBe(blobDesc.digest);
    expect(server.requests).toHaveLength(2);
    expect(server.requests[1]!.headers.range).toMatch(/^bytes=\d+-199999$/);
  });
});

describe('defect 16: credentials a registry echoes in an error body are redacted', () => {
  it('neither the Basic header, its base64 nor the password reach the message', async () => {
    const server = await serve((req, res) => {
      if (!req.headers.authorization) {
        res.writeHead(401, { 'www-authenticate': 'Basic realm="r"' });
        res.end();
        return;
      }
      const auth = req.headers.authorization;
      const decoded = Buffer.from(auth.slice(6), 'base64').toString();
      res.writeHead(400, { 'content-type': 'application/json' });
      res.end(
        JSON.stringify({
          errors: [{ code: 'DENIED', message: `you sent ${auth} (${decoded}) pw=s3cretPass` }],
        }),
      );
    });
    const authorizer = createAuthorizer({
      credentials: staticCredentials({ [server.host]: { username: 'alice', password: 's3cretPass' } }),
    });
    const error = await kartErrorOf(store(server, { authorizer }).fetchManifest('6.1'));
    expect(error.message).not.toContain('s3cretPass');
    expect(error.message).not.toContain(Buffer.from('alice:s3cretPass').toString('base64'));
    expect(error.message).toContain('you sent [redacted] ([redacted]) pw=[redacted]');
  });
});

describe('defect 17: an http token realm only on the registry’s own host', () => {
  it('a plain-http loopback registry may not send the password to a remote http realm', () => {
    const error = (() => {
      try {
        checkRealm('http://auth.example.com/token', new URL('http://127.0.0.1:5000/v2/'));
      } catch (e) {
        return e as { code: string };
      }
      return undefined;
    })();
    expect(error?.code).toBe('AUTH_REALM_REJECTED');
    expect(checkRealm('http://127.0.0.1:5001/token', new URL('http://127.0.0.1:5000/v2/')).host).toBe(
      '127.0.0.1:5001',
    );
    expect(checkRealm('https://auth.example.com/token', new URL('http://127.0.0.1:5000/v2/')).host).toBe(
      'auth.example.com',
    );
  });
});

/** A registry that serves the manifest and names it by `digest` in Docker-Content-Digest. */
function answeringWithDigest(digest: string): Script {
  return (req, res) => {
    res.writeHead(200, {
      'content-type': MediaType.OciManifest,
      'docker-content-digest': digest,
      'content-length': String(manifest.length),
    });
    res.end(req.method === 'HEAD' ? undefined : manifest);
  };
}

describe('defect 11: an unknown digest algorithm in Docker-Content-Digest', () => {
  it('is DIGEST_INVALID, not a crash', async () => {
    const server = await serve((_req, res) => {
      res.writeHead(200, { 'content-type': MediaType.OciManifest, 'docker-content-digest': 'foo:abc' });
      res.end(manifest);
    });
    const error = await kartErrorOf(store(server).fetchManifest('6.1'));
    expect(error.code).toBe('DIGEST_INVALID');
    expect(error.message).toContain('foo:abc');
  });

  it('is DIGEST_INVALID when a HEAD names it and the GET by that digest follows', async () => {
    const server = await serve(answeringWithDigest('md5:0123456789abcdef'));
    const repo = store(server);
    const desc = await repo.resolve('6.1');
    expect((await kartErrorOf(repo.fetch(desc))).code).toBe('DIGEST_INVALID');
  });

  it('is DIGEST_INVALID when the descriptor a HEAD answered is pushed on', async () => {
    const server = await serve(answeringWithDigest('foo:0123456789abcdef'));
    const repo = store(server);
    const desc = await repo.resolve('6.1');
    expect(desc.digest).toBe('foo:0123456789abcdef');
    const error = await kartErrorOf(repo.push(desc, Readable.from([manifest])));
    expect(error.code).toBe('DIGEST_INVALID');
    expect(error.exitCode).toBe(3);
    expect(error.message).toContain('foo:0123456789abcdef uses an unknown digest algorithm');
    // Refused before anything was sent: one HEAD, no PUT.
    expect(server.requests.map((r) => r.method)).toEqual(['HEAD']);
  });
});

describe('defect 15: copy --referrers follows a bounded graph', () => {
  it('an endless chain of referrers stops at the depth cap with REFERRERS_TOO_MANY', async () => {
    const { copyReference } = await import('../../src/registry/copy-reference.ts');
    const { mkdtemp, rm } = await import('node:fs/promises');
    const { tmpdir } = await import('node:os');
    const { join } = await import('node:path');
    const empty = Buffer.from('{}');
    const manifests = new Map<string, Buffer>([[manifestDesc.digest, manifest]]);
    /** Every subject has one referrer, made up on the spot: a chain without end. */
    const referrerOf = (subject: string): Descriptor => {
      const bytes = Buffer.from(
        JSON.stringify({
          schemaVersion: 2,
          mediaType: MediaType.OciManifest,
          artifactType: 'application/x-endless',
          config: { mediaType: MediaType.OciEmpty, digest: sha256Digest(empty), size: 2 },
          layers: [],
          subject: {
            mediaType: MediaType.OciManifest,
            digest: subject,
            size: manifests.get(subject)!.length,
          },
        }),
      );
      const desc = { mediaType: MediaType.OciManifest, digest: sha256Digest(bytes), size: bytes.length };
      manifests.set(desc.digest, bytes);
      return desc;
    };
    const server = await serve((req, res) => {
      const path = req.path.split('?')[0]!;
      const last = path.slice(path.lastIndexOf('/') + 1);
      if (path.includes('/referrers/')) {
        res.writeHead(200, { 'content-type': MediaType.OciIndex });
        return res.end(
          JSON.stringify({ schemaVersion: 2, mediaType: MediaType.OciIndex, manifests: [referrerOf(last)] }),
        );
      }
      if (path.includes('/blobs/')) {
        res.writeHead(200, { 'content-length': '2' });
        return res.end(req.method === 'HEAD' ? undefined : empty);
      }
      const bytes = last === '6.1' ? manifest : manifests.get(last);
      if (!bytes) return res.writeHead(404).end();
      res.writeHead(200, {
        'content-type': MediaType.OciManifest,
        'docker-content-digest': sha256Digest(bytes),
        'content-length': String(bytes.length),
      });
      res.end(req.method === 'HEAD' ? undefined : bytes);
    });
    const dir = await mkdtemp(join(tmpdir(), 'kart-referrers-'));
    try {
      const error = await kartErrorOf(
        copyReference(`${server.host}/acme/kernel:6.1`, `oci:${dir}:6.1`, {
          referrers: true,
          maxReferrerDepth: 3,
          retry: { baseDelayMs: 1, maxDelayMs: 2 },
        }),
      );
      expect(error.code).toBe('REFERRERS_TOO_MANY');
      expect(error.message).toContain('a chain deeper than 3');
      // The image and three referrers went over; the fourth was never fetched.
      expect(server.requests.filter((r) => r.path.includes('/referrers/'))).toHaveLength(4);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('defect 2 through the CLI: --timeout', () => {
  it('kart pull -k against a trickling registry exits 3 at --timeout', async () => {
    const { runKart } = await import('../support/kart-cli.ts');
    const { mkdtemp, rm } = await import('node:fs/promises');
    const { tmpdir } = await import('node:os');
    const { join } = await import('node:path');
    const server = await serve((_req, res) => trickle(res, 200, { 'content-type': 'application/json' }, 50));
    const dir = await mkdtemp(join(tmpdir(), 'kart-timeout-'));
    try {
      const started = Date.now();
      const run = await runKart([
        'pull',
        '-k',
        `${server.host}/acme/kernel:6.1`,
        '--dest',
        join(dir, 'dest'),
        '--cache',
        join(dir, 'cache'),
        '--timeout',
        '1',
      ]);
      expect(run.code).toBe(3);
      expect(run.stderr).toContain('within the 1 s deadline');
      expect(Date.now() - started).toBeLessThan(15_000);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('--timeout must be a positive number of seconds (exit 2)', async () => {
    const { runKartSync } = await import('../support/kart-cli.ts');
    const run = runKartSync([
      'pull',
      '-k',
      '127.0.0.1:1/a:b',
      '--dest',
      '/nonexistent/x',
      '--timeout',
      'soon',
    ]);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain('--timeout soon: not a positive number of seconds');
  });
});

describe('defect 2: a mid-blob stall', () => {
  it('is resumed once, then fails TRANSFER_STALLED (exit 3)', async () => {
    const server = await serve((_req, res) => {
      res.writeHead(200, { 'content-length': String(blob.length) });
      res.write(blob.subarray(0, 1000));
      // then silence
    });
    const error = await kartErrorOf(async () =>
      readAll(await store(server, { stallTimeoutMs: 150 }).fetch(blobDesc)),
    );
    expect(error.code).toBe('TRANSFER_STALLED');
    expect(error.exitCode).toBe(3);
    expect(server.requests).toHaveLength(2);
  });
});
