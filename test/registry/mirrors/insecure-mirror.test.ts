/**
 * `insecure = true` as containers reads it: certificate checks off AND plain HTTP allowed. An
 * insecure endpoint is pinged over HTTPS first and spoken to over HTTP when only HTTP answers; a
 * verified endpoint is never pinged nor downgraded. The mirror is named `mirror.kart.test:PORT` (not
 * a loopback name, which kart speaks HTTP to anyway), resolved to 127.0.0.1 by the test's connector.
 */
import { createServer } from 'node:https';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import type { LookupFunction } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { Agent } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sha256Digest } from '../../../src/oci/digest.ts';
import { MediaType } from '../../../src/oci/media-types.ts';
import type { Descriptor } from '../../../src/oci/schema.ts';
import { insecureEndpointScheme } from '../../../src/registry/mirrors/insecure-transport.ts';
import type { MirroredRepository } from '../../../src/registry/mirrors/mirrored-repository.ts';
import { openReference } from '../../../src/registry/open-target.ts';
import { startRegistry, type TestRegistry } from '../../support/registry.ts';
import { startScriptedServer, type ScriptedServer } from '../../support/scripted-server.ts';
import { makeSelfSignedCert } from '../../support/self-signed-cert.ts';

/** `*.kart.test` is 127.0.0.1; every other name fails to resolve. */
const lookup: LookupFunction = (hostname, options, callback) => {
  if (!hostname.endsWith('.kart.test')) {
    callback(Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname}`), { code: 'ENOTFOUND' }), '', 4);
  } else if (options.all === true) {
    (callback as unknown as (e: null, a: { address: string; family: number }[]) => void)(null, [
      { address: '127.0.0.1', family: 4 },
    ]);
  } else callback(null, '127.0.0.1', 4);
};
const dispatcher = new Agent({ connect: { lookup, rejectUnauthorized: false } });

const work = mkdtempSync(join(tmpdir(), 'kart-insecure-'));
let plain: ScriptedServer;
let tls: ReturnType<typeof createServer>;
let tlsPort: number;
let tlsRequests = 0;

beforeAll(async () => {
  plain = await startScriptedServer((req, res) => {
    res.statusCode = req.path === '/v2/' ? 200 : 404;
    res.end();
  });
  const cert = makeSelfSignedCert(work, 'mirror', { san: 'DNS:tls.kart.test' });
  tls = createServer({ cert: readFileSync(cert.certPath), key: readFileSync(cert.keyPath) }, (req, res) => {
    tlsRequests++;
    res.statusCode = req.url === '/v2/' ? 401 : 404;
    res.end();
  });
  await new Promise<void>((done) => tls.listen(0, '127.0.0.1', done));
  tlsPort = (tls.address() as { port: number }).port;
});
afterAll(async () => {
  await plain?.stop();
  tls?.closeAllConnections();
  await new Promise((done) => tls?.close(done));
  await dispatcher.close();
  rmSync(work, { recursive: true, force: true });
});

describe('the transport decision for an endpoint', () => {
  const port = (server: ScriptedServer) => server.host.split(':')[1];
  const decide = (host: string, insecure: boolean) =>
    insecureEndpointScheme(host, insecure, { dispatcher, timeoutMs: 5_000 });

  it('insecure and speaking HTTP only: HTTPS fails, HTTP answers /v2/, so HTTP', async () => {
    const before = plain.requests.length;
    expect(await decide(`mirror.kart.test:${port(plain)}`, true)).toBe('http');
    expect(plain.requests.slice(before).map((r) => `${r.method} ${r.path}`)).toEqual(['GET /v2/']);
  });

  it('insecure and speaking HTTPS (self-signed): HTTPS, unverified, no downgrade', async () => {
    const before = tlsRequests;
    expect(await decide(`tls.kart.test:${tlsPort}`, true)).toBe('https');
    expect(tlsRequests - before).toBe(1);
  });

  it('not insecure, a loopback name, or nobody listening: HTTPS without a ping to HTTP', async () => {
    const before = plain.requests.length;
    expect(await decide(`mirror.kart.test:${port(plain)}`, false)).toBe('https');
    expect(await decide(plain.host, true)).toBe('https');
    expect(plain.requests.length).toBe(before);
    expect(await decide('gone.kart.test:1', true)).toBe('https');
  });
});

describe('an insecure mirror that is a real HTTP-only registry', () => {
  const content = Buffer.from('a layer served by the plain-HTTP mirror\n'.repeat(2000));
  const blob: Descriptor = {
    mediaType: MediaType.OciLayer,
    digest: sha256Digest(content),
    size: content.length,
  };
  let upstream: TestRegistry;
  let mirror: TestRegistry;
  beforeAll(async () => {
    upstream = await startRegistry({ accessLog: true });
    mirror = await startRegistry({ accessLog: true });
    for (const registry of [upstream, mirror]) {
      const writer = await openReference(`${registry.host}/plain/kernel`, { create: true, sources: false });
      await writer.target.push(blob, Readable.from([content]));
      await writer.close();
    }
  });
  afterAll(async () => {
    await mirror?.stop();
    await upstream?.stop();
  });

  it('serves the blob over plain HTTP; the upstream keeps its own transport', async () => {
    const mirrorHost = `mirror.kart.test:${mirror.host.split(':')[1]}`;
    const file = join(work, 'registries.conf');
    writeFileSync(
      file,
      `[[registry]]\nlocation = "${upstream.host}"\n\n[[registry.mirror]]\nlocation = "${mirrorHost}"\ninsecure = true\n`,
    );
    const before = {
      mirror: (await mirror.settledAccessLog()).length,
      upstream: (await upstream.settledAccessLog()).length,
    };
    const opened = await openReference(`${upstream.host}/plain/kernel:1`, {
      sources: { registriesConf: { file } },
      dispatcher,
    });
    try {
      const target = opened.target as MirroredRepository;
      const chunks: Buffer[] = [];
      for await (const chunk of await target.fetch(blob)) chunks.push(chunk as Buffer);
      expect(Buffer.concat(chunks).equals(content)).toBe(true);
      expect({ servedBy: target.servedBy(blob.digest), skipped: target.skipped() }).toEqual({
        servedBy: `${mirrorHost}/plain/kernel`,
        skipped: [],
      });
      expect(
        (await mirror.settledAccessLog())
          .slice(before.mirror)
          .filter((e) => e.method === 'GET')
          .map((e) => `${e.status} ${e.path}`),
      ).toEqual(['200 /v2/', `200 /v2/plain/kernel/blobs/${blob.digest}`]);
      expect(
        (await upstream.settledAccessLog()).slice(before.upstream).filter((e) => e.path.includes('/blobs/')),
      ).toEqual([]);
    } finally {
      await opened.close();
    }
  });
});
