/**
 * Registry behaviour distribution 2.8 does not show, from a scripted server: every test asserts what
 * kart sent and what it made of the answer.
 */
import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { sha256Digest } from '../../src/oci/digest.ts';
import { MediaType } from '../../src/oci/media-types.ts';
import type { Descriptor } from '../../src/oci/schema.ts';
import type { Authorizer } from '../../src/registry/authorizer.ts';
import type { RetryEvent } from '../../src/registry/http-client.ts';
import { scriptedRepositories } from '../support/scripted-repository.ts';
import { sendError } from '../support/scripted-server.ts';
import { readAll } from './kernel-image-fixture.ts';
import { retryTransient } from '../../src/oci/transient-retry.ts';
import { kartErrorOf } from '../support/kart-error.ts';

const { serve, store } = scriptedRepositories();

const blob = Buffer.alloc(64 * 1024, 7).map((b, i) => (b + i * 31) & 0xff) as Buffer;
const blobDesc: Descriptor = { mediaType: MediaType.OciLayer, digest: sha256Digest(blob), size: blob.length };
const manifest = Buffer.from(
  JSON.stringify({ schemaVersion: 2, mediaType: MediaType.OciManifest, config: blobDesc, layers: [] }),
);
const manifestDesc: Descriptor = {
  mediaType: MediaType.OciManifest,
  digest: sha256Digest(manifest),
  size: manifest.length,
};

describe('retries', () => {
  it('honours 429 Retry-After (seconds) and then succeeds', async () => {
    const server = await serve((req, res, i) => {
      if (i === 0) {
        res.writeHead(429, { 'retry-after': '1' });
        res.end('Too Many Requests (HAP429)');
        return;
      }
      res.writeHead(200, {
        'content-type': MediaType.OciManifest,
        'docker-content-digest': manifestDesc.digest,
      });
      res.end(manifest);
    });
    const retries: RetryEvent[] = [];
    const repo = store(server, { onRetry: (e) => retries.push(e) });
    expect(await repo.fetchManifest('6.1')).toMatchObject({ descriptor: manifestDesc });
    expect(retries).toEqual([
      { url: `${server.url}/v2/acme/kernel/manifests/6.1`, attempt: 1, delayMs: 1000, reason: 'HTTP 429' },
    ]);
  });

  it('rides out a burst of 503s, and gives up with exit 3 after the retry budget', async () => {
    const server = await serve((_req, res, i) => {
      if (i < 3) return sendError(res, 503, 'UNAVAILABLE', 'overloaded');
      res.writeHead(200, { 'content-type': MediaType.OciManifest });
      res.end(manifest);
    });
    expect((await store(server).fetchManifest('6.1')).bytes).toEqual(manifest);
    expect(server.requests.length).toBe(4);
    const always = await serve((_req, res) => sendError(res, 503, 'UNAVAILABLE', 'overloaded'));
    await expect(
      store(always, { retry: { maxRetries: 2, baseDelayMs: 1 } }).fetchManifest('6.1'),
    ).rejects.toMatchObject({
      code: 'REGISTRY_ERROR',
      exitCode: 3,
      message: `manifest ${always.host}/acme/kernel:6.1: ${always.host} answered HTTP 503 (UNAVAILABLE: overloaded)`,
    });
    expect(always.requests.length).toBe(3);
  });
});

describe('blob downloads', () => {
  it('follows a redirect to another origin without sending Authorization there', async () => {
    const storage = await serve((_req, res) => {
      res.writeHead(200, { 'content-length': String(blob.length) });
      res.end(blob);
    });
    const server = await serve((_req, res) => {
      res.writeHead(307, { location: `${storage.url}/bucket/blob?sig=abc` });
      res.end();
    });
    const authorizer: Authorizer = {
      authorize: async () => 'Bearer registry-token',
      challenge: async () => undefined,
    };
    const got = await readAll(await store(server, { authorizer }).fetch(blobDesc));
    expect(got).toEqual(blob);
    expect(server.requests[0]!.headers.authorization).toBe('Bearer registry-token');
    expect(storage.requests[0]!.path).toBe('/bucket/blob?sig=abc');
    expect(storage.requests[0]!.headers.authorization).toBeUndefined();
  });

  it('resumes a connection cut mid-blob with Range, and the digest is right', async () => {
    const cutAt = 20_000;
    const server = await serve((req, res, i) => {
      if (i === 0) {
        res.writeHead(200, { 'content-length': String(blob.length) });
        res.write(blob.subarray(0, cutAt), () => res.socket?.destroy());
        return;
      }
      const from = Number(/bytes=(\d+)-/.exec(req.headers.range ?? '')?.[1]);
      res.writeHead(206, {
        'content-length': String(blob.length - from),
        'content-range': `bytes ${from}-${blob.length - 1}/${blob.length}`,
      });
      res.end(blob.subarray(from));
    });
    const got = await readAll(await store(server).fetch(blobDesc));
    expect(sha256Digest(got)).toBe(blobDesc.digest);
    expect(server.requests.map((r) => r.headers.range)).toEqual([
      undefined,
      `bytes=${cutAt}-${blob.length - 1}`,
    ]);
  });

  it('accepts a blob without Content-Length (chunked transfer)', async () => {
    const server = await serve((_req, res) => {
      res.writeHead(200, { 'transfer-encoding': 'chunked' });
      res.write(blob.subarray(0, 1000));
      res.end(blob.subarray(1000));
    });
    expect(await readAll(await store(server).fetch(blobDesc))).toEqual(blob);
  });

  it('fails the stream with DIGEST_MISMATCH when the bytes are not the blob', async () => {
    const server = await serve((_req, res) => {
      res.writeHead(200, { 'content-length': String(blob.length) });
      res.end(Buffer.alloc(blob.length, 1));
    });
    await expect(readAll(await store(server).fetch(blobDesc))).rejects.toMatchObject({
      code: 'DIGEST_MISMATCH',
      exitCode: 1,
    });
  });
});

describe('manifest verification', () => {
  it('rejects a Docker-Content-Digest that is not the body hash', async () => {
    const lie = sha256Digest('something else');
    const server = await serve((_req, res) => {
      res.writeHead(200, { 'content-type': MediaType.OciManifest, 'docker-content-digest': lie });
      res.end(manifest);
    });
    await expect(store(server).fetchManifest('6.1')).rejects.toMatchObject({
      code: 'DIGEST_MISMATCH',
      exitCode: 1,
      message: `manifest ${server.host}/acme/kernel:6.1: manifest digest is ${manifestDesc.digest}, but Docker-Content-Digest says ${lie}`,
    });
  });

  it('refuses manifests over 4 MiB, announced or streamed', async () => {
    const huge = Buffer.alloc(4 * 1024 * 1024 + 1, 0x20);
    const announced = await serve((_req, res) => {
      res.writeHead(200, { 'content-type': MediaType.OciManifest, 'content-length': String(huge.length) });
      res.end(huge);
    });
    await expect(store(announced).fetchManifest('6.1')).rejects.toMatchObject({
      code: 'MANIFEST_TOO_LARGE',
      exitCode: 1,
    });
    const streamed = await serve((_req, res) => {
      res.writeHead(200, { 'content-type': MediaType.OciManifest, 'transfer-encoding': 'chunked' });
      res.end(huge);
    });
    await expect(store(streamed).fetchManifest('6.1')).rejects.toMatchObject({
      code: 'MANIFEST_TOO_LARGE',
      message: `manifest ${streamed.host}/acme/kernel:6.1: manifest is ${huge.length} bytes, over the 4194304-byte limit`,
    });
  });
});

describe('uploads', () => {
  it('goes chunked when the registry states OCI-Chunk-Min-Length, keeping the Location query', async () => {
    const server = await serve((req, res) => {
      if (req.method === 'POST') {
        res.writeHead(202, { location: '/upload/abc?state=s0', 'oci-chunk-min-length': String(40 * 1024) });
        return res.end();
      }
      if (req.method === 'PATCH') {
        const end = Number(req.headers['content-range']!.split('-')[1]);
        res.writeHead(202, { location: `/upload/abc?state=s${end}`, range: `0-${end}` });
        return res.end();
      }
      res.writeHead(201);
      res.end();
    });
    await store(server, {}, { upload: { chunkSize: 1024 } }).push(blobDesc, Readable.from([blob]));
    expect(server.requests.map((r) => `${r.method} ${r.path} ${r.headers['content-range'] ?? ''}`)).toEqual([
      'POST /v2/acme/kernel/blobs/uploads/ ',
      `PATCH /upload/abc?state=s0 0-${40 * 1024 - 1}`,
      `PATCH /upload/abc?state=s${40 * 1024 - 1} ${40 * 1024}-${blob.length - 1}`,
      `PUT /upload/abc?state=s${blob.length - 1}&digest=${encodeURIComponent(blobDesc.digest)} `,
    ]);
    expect(Buffer.concat(server.requests.filter((r) => r.method === 'PATCH').map((r) => r.body))).toEqual(
      blob,
    );
  });

  it('after a 416 asks the upload URL for the offset and goes on from there', async () => {
    let patches = 0;
    const server = await serve((req, res) => {
      if (req.method === 'POST') {
        res.writeHead(202, { location: '/upload/x', 'oci-chunk-min-length': '1' });
        return res.end();
      }
      if (req.method === 'PATCH' && patches++ === 0) {
        res.writeHead(416);
        return res.end();
      }
      if (req.method === 'GET') {
        res.writeHead(204, { location: '/upload/x?after=status', range: '0-999' });
        return res.end();
      }
      res.writeHead(req.method === 'PATCH' ? 202 : 201, { location: '/upload/x?next=1' });
      res.end();
    });
    await store(server, {}, { upload: { chunkSize: blob.length } }).push(blobDesc, Readable.from([blob]));
    const methods = server.requests.map((r) => `${r.method} ${r.path} ${r.headers['content-range'] ?? ''}`);
    expect(methods).toEqual([
      'POST /v2/acme/kernel/blobs/uploads/ ',
      `PATCH /upload/x 0-${blob.length - 1}`,
      'GET /upload/x ',
      `PATCH /upload/x?after=status 1000-${blob.length - 1}`,
      `PUT /upload/x?next=1&digest=${encodeURIComponent(blobDesc.digest)} `,
    ]);
    expect(server.requests[3]!.body).toEqual(blob.subarray(1000));
  });

  it("a manifest PUT the registry answers 400 DIGEST_INVALID is DIGEST_MISMATCH, transient (kart's bytes were checked)", async () => {
    const server = await serve((_req, res) => sendError(res, 400, 'DIGEST_INVALID', 'digest invalid'));
    const bytes = Buffer.from('{"schemaVersion":2,"manifests":[]}');
    expect(
      await kartErrorOf(store(server).pushManifest(bytes, 'application/vnd.oci.image.index.v1+json')),
    ).toMatchObject({ code: 'DIGEST_MISMATCH', transient: true, exitCode: 1 });
  });

  it('deletes the upload session when the push fails', async () => {
    const server = await serve((req, res) => {
      if (req.method === 'POST') {
        res.writeHead(202, { location: `http://${req.headers.host}/upload/s1?token=t` });
        return res.end();
      }
      if (req.method === 'PUT') return sendError(res, 400, 'BLOB_UPLOAD_INVALID', 'upload rejected');
      res.writeHead(204);
      res.end();
    });
    await expect(store(server).push(blobDesc, Readable.from([blob]))).rejects.toMatchObject({
      code: 'REGISTRY_ERROR',
      message: `blob ${blobDesc.digest} to ${server.host}/acme/kernel: ${server.host} answered HTTP 400 (BLOB_UPLOAD_INVALID: upload rejected)`,
    });
    expect(server.requests.map((r) => `${r.method} ${r.path.split('&')[0]}`)).toEqual([
      'POST /v2/acme/kernel/blobs/uploads/',
      'PUT /upload/s1?token=t',
      'DELETE /upload/s1?token=t',
    ]);
  });
});

describe('referrers and tag pages', () => {
  it('uses the referrers API when present and filters by artifactType', async () => {
    const sig = {
      mediaType: MediaType.OciManifest,
      digest: sha256Digest('sig'),
      size: 3,
      artifactType: 'application/vnd.example.sig',
    };
    const sbom = {
      mediaType: MediaType.OciManifest,
      digest: sha256Digest('sbom'),
      size: 4,
      artifactType: 'application/vnd.example.sbom',
    };
    const server = await serve((_req, res) => {
      res.writeHead(200, { 'content-type': MediaType.OciIndex });
      res.end(JSON.stringify({ schemaVersion: 2, mediaType: MediaType.OciIndex, manifests: [sig, sbom] }));
    });
    const repo = store(server);
    expect(await repo.referrers(manifestDesc)).toEqual([sig, sbom]);
    expect(await repo.referrers(manifestDesc, 'application/vnd.example.sbom')).toEqual([sbom]);
    expect(server.requests.map((r) => r.path)).toEqual([
      `/v2/acme/kernel/referrers/${manifestDesc.digest}`,
      `/v2/acme/kernel/referrers/${manifestDesc.digest}?artifactType=${encodeURIComponent('application/vnd.example.sbom')}`,
    ]);
  });

  it('falls back to the <alg>-<hex> tag when the API answers 404', async () => {
    const server = await serve((req, res) => {
      if (req.path.includes('/referrers/')) return sendError(res, 404, 'NOT_FOUND', 'no api');
      return sendError(res, 404, 'MANIFEST_UNKNOWN', 'unknown');
    });
    expect(await store(server).referrers(manifestDesc)).toEqual([]);
    expect(server.requests[1]!.path).toBe(`/v2/acme/kernel/manifests/sha256-${manifestDesc.digest.slice(7)}`);
  });

  it('follows Link pages on the same origin, caps them, and refuses links elsewhere', async () => {
    const server = await serve((req, res) => {
      const page = Number(new URL(req.path, 'http://x').searchParams.get('last')?.slice(1) ?? 0);
      const headers: Record<string, string> = { 'content-type': 'application/json' };
      if (page < 2) headers.link = `</v2/acme/kernel/tags/list?n=1&last=t${page + 1}>; rel="next"`;
      res.writeHead(200, headers);
      res.end(JSON.stringify({ name: 'acme/kernel', tags: [`t${page + 1}`] }));
    });
    const tags: string[] = [];
    for await (const tag of store(server, {}, { tagList: { pageSize: 1 } }).tags()) tags.push(tag);
    expect(tags).toEqual(['t1', 't2', 't3']);
    expect(server.requests.map((r) => r.path)).toEqual([
      '/v2/acme/kernel/tags/list?n=1',
      '/v2/acme/kernel/tags/list?n=1&last=t1',
      '/v2/acme/kernel/tags/list?n=1&last=t2',
    ]);
    await expect(async () => {
      for await (const _t of store(server, {}, { tagList: { maxPages: 2 } }).tags()) continue;
    }).rejects.toMatchObject({
      code: 'TAG_LIST_TOO_LONG',
      message: `tags of ${server.host}/acme/kernel: more than 2 pages of tags`,
    });
    const elsewhere = await serve((_req, res) => {
      res.writeHead(200, { link: '<http://evil.example/v2/x/tags/list?n=1>; rel="next"' });
      res.end(JSON.stringify({ tags: ['a'] }));
    });
    await expect(async () => {
      for await (const _t of store(elsewhere).tags()) continue;
    }).rejects.toMatchObject({ code: 'PAGE_LINK_INVALID', exitCode: 3 });
  });
});

describe('pushing a manifest with a subject', () => {
  const signature = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: MediaType.OciManifest,
      artifactType: 'application/vnd.example.sig',
      config: { mediaType: MediaType.OciEmpty, digest: sha256Digest('{}'), size: 2 },
      layers: [blobDesc],
      subject: manifestDesc,
    }),
  );
  const signatureDigest = sha256Digest(signature);
  const fallbackTag = `sha256-${manifestDesc.digest.slice(7)}`;

  it('writes no fallback index when the registry answers with OCI-Subject (it has the referrers API)', async () => {
    const server = await serve((_req, res) => {
      res.writeHead(201, { 'docker-content-digest': signatureDigest, 'oci-subject': manifestDesc.digest });
      res.end();
    });
    const pushed = await store(server).pushManifest(signature, MediaType.OciManifest);
    expect(pushed.digest).toBe(signatureDigest);
    expect(server.requests.map((r) => `${r.method} ${r.path}`)).toEqual([
      `PUT /v2/acme/kernel/manifests/${signatureDigest}`,
    ]);
  });

  it('without OCI-Subject, adds the manifest to the <alg>-<hex> fallback index', async () => {
    const server = await serve((req, res) => {
      if (req.method === 'GET') return sendError(res, 404, 'MANIFEST_UNKNOWN', 'manifest unknown');
      res.writeHead(201);
      res.end();
    });
    await store(server).pushManifest(signature, MediaType.OciManifest);
    expect(server.requests.map((r) => `${r.method} ${r.path}`)).toEqual([
      `PUT /v2/acme/kernel/manifests/${signatureDigest}`,
      `GET /v2/acme/kernel/manifests/${fallbackTag}`,
      `PUT /v2/acme/kernel/manifests/${fallbackTag}`,
    ]);
    const index = JSON.parse(server.requests[2]!.body.toString('utf8')) as { manifests: unknown[] };
    expect(index.manifests).toEqual([
      {
        mediaType: MediaType.OciManifest,
        digest: signatureDigest,
        size: signature.length,
        artifactType: 'application/vnd.example.sig',
      },
    ]);
  });
});

describe('the repository routes each descriptor', () => {
  it('manifest media types to /manifests/ (with the Accept list), the rest to /blobs/; blobs() and manifests() are not routed', async () => {
    const server = await serve((req, res) => {
      if (req.method === 'GET') {
        res.writeHead(200, { 'content-type': MediaType.OciManifest });
        return res.end(manifest);
      }
      res.writeHead(req.method === 'DELETE' ? 202 : 200);
      res.end();
    });
    const repo = store(server);
    expect(await repo.exists(manifestDesc)).toBe(true);
    expect(await repo.exists(blobDesc)).toBe(true);
    expect(await repo.blobs().exists(manifestDesc)).toBe(true);
    expect(await repo.manifests().exists(blobDesc)).toBe(true);
    await repo.delete(manifestDesc);
    await repo.delete(blobDesc);
    expect(server.requests.map((r) => `${r.method} ${r.path}`)).toEqual([
      `HEAD /v2/acme/kernel/manifests/${manifestDesc.digest}`,
      `HEAD /v2/acme/kernel/blobs/${blobDesc.digest}`,
      `HEAD /v2/acme/kernel/blobs/${manifestDesc.digest}`,
      `HEAD /v2/acme/kernel/manifests/${blobDesc.digest}`,
      // the manifest is read first: had it a subject, the referrers fallback would lose it
      `GET /v2/acme/kernel/manifests/${manifestDesc.digest}`,
      `DELETE /v2/acme/kernel/manifests/${manifestDesc.digest}`,
      `DELETE /v2/acme/kernel/blobs/${blobDesc.digest}`,
    ]);
    const accepts = server.requests.map((r) => r.headers.accept?.includes(MediaType.OciManifest) === true);
    expect(accepts).toEqual([true, false, false, true, true, false, false]);
  });
});

describe('stalls', () => {
  it('a registry that stops sending mid-manifest fails with TRANSFER_STALLED (transient), not a hang', async () => {
    const server = await serve((req, res) => {
      // Headers and half the body, then silence with the connection held open.
      res.writeHead(200, {
        'content-type': MediaType.OciManifest,
        'content-length': String(manifest.length),
        'docker-content-digest': manifestDesc.digest,
      });
      res.write(manifest.subarray(0, 10));
    });
    const failure = await store(server, { stallTimeoutMs: 300, retry: { maxRetries: 0 } })
      .fetch(manifestDesc)
      .then(readAll)
      .catch((error: unknown) => error);
    expect(failure).toMatchObject({ code: 'TRANSFER_STALLED', exitCode: 3, transient: true });
    expect((failure as Error).message).toContain(`${server.host} stopped sending data`);
  });
});

describe('spec details (distribution-spec SHOULDs)', () => {
  const digestParam = `digest=${encodeURIComponent(blobDesc.digest)}`;

  it('keeps the upload Location query byte for byte when it appends digest=', async () => {
    const query = '?_state=AbC-_x~y%7E+z=&token=a%20b&sig=c,d:e&X-Amz-SignedHeaders=host;x-amz-date';
    const server = await serve((req, res) => {
      res.writeHead(req.method === 'POST' ? 202 : 201, { location: `/upload/q${query}` });
      res.end();
    });
    await store(server).push(blobDesc, Readable.from([blob]));
    expect(server.requests.map((r) => `${r.method} ${r.path}`)).toEqual([
      'POST /v2/acme/kernel/blobs/uploads/',
      `PUT /upload/q${query}&${digestParam}`,
    ]);
  });

  it('follows a 307 on a PATCH and a 308 on the closing PUT within the origin, with Authorization', async () => {
    const server = await serve((req, res) => {
      if (req.method === 'POST') {
        res.writeHead(202, { location: '/upload/a', 'oci-chunk-min-length': String(blob.length) });
        return res.end();
      }
      if (req.path === '/upload/a') {
        res.writeHead(307, { location: '/moved/a?x=1' });
        return res.end();
      }
      if (req.method === 'PATCH') {
        res.writeHead(202, { location: '/upload/b' });
        return res.end();
      }
      if (req.path.startsWith('/upload/b')) {
        res.writeHead(308, { location: `/moved/b?${digestParam}` });
        return res.end();
      }
      res.writeHead(201);
      res.end();
    });
    const authorizer: Authorizer = { authorize: async () => 'Bearer t', challenge: async () => undefined };
    await store(server, { authorizer }).push(blobDesc, Readable.from([blob]));
    expect(
      server.requests.map((r) => `${r.method} ${r.path} ${r.body.length} ${r.headers.authorization}`),
    ).toEqual([
      'POST /v2/acme/kernel/blobs/uploads/ 0 Bearer t',
      `PATCH /upload/a ${blob.length} Bearer t`,
      `PATCH /moved/a?x=1 ${blob.length} Bearer t`,
      `PUT /upload/b?${digestParam} 0 Bearer t`,
      `PUT /moved/b?${digestParam} 0 Bearer t`,
    ]);
    expect(server.requests[2]!.body).toEqual(blob);
  });

  it('refuses a 307 on an upload to another origin: no blob and no Authorization go there', async () => {
    const elsewhere = await serve((_req, res) => {
      res.writeHead(202, { location: '/x' });
      res.end();
    });
    const server = await serve((req, res) => {
      if (req.method === 'POST') {
        res.writeHead(202, { location: '/upload/a', 'oci-chunk-min-length': String(blob.length) });
        return res.end();
      }
      if (req.method === 'PATCH') {
        res.writeHead(307, { location: `${elsewhere.url}/steal` });
        return res.end();
      }
      res.writeHead(204);
      res.end();
    });
    const authorizer: Authorizer = { authorize: async () => 'Bearer t', challenge: async () => undefined };
    await expect(store(server, { authorizer }).push(blobDesc, Readable.from([blob]))).rejects.toMatchObject({
      code: 'REDIRECT_REFUSED',
      exitCode: 3,
      message: `blob ${blobDesc.digest} to ${server.host}/acme/kernel: ${server.url}/upload/a redirected a PATCH to another origin (${elsewhere.url})`,
    });
    expect(elsewhere.requests).toEqual([]);
    expect(server.requests.map((r) => r.method)).toEqual(['POST', 'PATCH', 'DELETE']);
  });

  it('refuses a manifest whose mediaType is not the Content-Type it was served with', async () => {
    const server = await serve((_req, res) => {
      res.writeHead(200, {
        'content-type': MediaType.OciIndex,
        'docker-content-digest': manifestDesc.digest,
      });
      res.end(manifest);
    });
    await expect(store(server).fetchManifest('6.1')).rejects.toMatchObject({
      code: 'MANIFEST_MEDIA_TYPE_MISMATCH',
      exitCode: 1,
      message: `manifest ${server.host}/acme/kernel:6.1: the registry sent it as ${MediaType.OciIndex}, but the document says it is ${MediaType.OciManifest}`,
    });
    // A generic Content-Type says nothing either way: the document's own mediaType stands.
    const generic = await serve((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(manifest);
    });
    expect(await store(generic).fetchManifest('6.1')).toMatchObject({ descriptor: manifestDesc });
  });
});

describe('a registry that redirects a streamed upload', () => {
  it('fails that push as transient; started over from its source, the blob goes in chunks that follow', async () => {
    const server = await serve((req, res) => {
      if (req.method === 'POST') {
        res.writeHead(202, { location: '/upload/1' });
        return res.end();
      }
      if (!req.path.startsWith('/storage/')) {
        res.writeHead(307, { location: `/storage${req.path}` });
        return res.end();
      }
      res.writeHead(req.method === 'PATCH' ? 202 : 201, { location: req.path.replace('/storage', '') });
      res.end();
    });
    const repo = store(server);
    const error = await kartErrorOf(repo.push(blobDesc, Readable.from([blob])));
    expect(error).toMatchObject({ code: 'UPLOAD_REDIRECTED', exitCode: 3, transient: true });
    const retried = server.requests.length;
    // What copy does after a transient failure: the same transfer again, from its source.
    await retryTransient(() => repo.push(blobDesc, Readable.from([blob])), { delayMs: 1 });
    expect(
      server.requests.slice(0, retried).map((r) => `${r.method} ${r.path.split('?')[0]} ${r.body.length}`),
    ).toEqual([
      'POST /v2/acme/kernel/blobs/uploads/ 0',
      `PUT /upload/1 ${blob.length}`,
      'DELETE /upload/1 0',
      'DELETE /storage/upload/1 0',
    ]);
    expect(
      server.requests.slice(retried).map((r) => `${r.method} ${r.path.split('?')[0]} ${r.body.length}`),
    ).toEqual([
      'POST /v2/acme/kernel/blobs/uploads/ 0',
      `PATCH /upload/1 ${blob.length}`,
      `PATCH /storage/upload/1 ${blob.length}`,
      'PUT /upload/1 0',
      'PUT /storage/upload/1 0',
    ]);
    expect(server.requests.at(-1)!.path).toBe(
      `/storage/upload/1?${`digest=${encodeURIComponent(blobDesc.digest)}`}`,
    );
  });
});
