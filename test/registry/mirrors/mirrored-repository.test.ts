/**
 * MirroredRepository as a library Target, against the real registry as the upstream and a scripted
 * mirror that stalls: the stalled mirror is left after its stall limit and the blob carried on from
 * the upstream at the byte where the mirror stopped; the mirror is not asked again in the same pull.
 */
import { createHash, randomBytes } from 'node:crypto';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { MediaType } from '../../../src/oci/media-types.ts';
import type { Descriptor } from '../../../src/oci/schema.ts';
import { MirroredRepository } from '../../../src/registry/mirrors/mirrored-repository.ts';
import { openReference, type OpenedTarget } from '../../../src/registry/open-target.ts';
import { startRegistry, type TestRegistry } from '../../support/registry.ts';
import { startScriptedServer, type ScriptedServer } from '../../support/scripted-server.ts';

let upstream: TestRegistry;
const EMPTY_DIGEST = `sha256:${createHash('sha256').update('{}').digest('hex')}` as const;
let mirror: ScriptedServer;
const content = randomBytes(256 * 1024);
const blob: Descriptor = {
  mediaType: MediaType.OciLayer,
  digest: `sha256:${createHash('sha256').update(content).digest('hex')}`,
  size: content.length,
};

beforeAll(async () => {
  upstream = await startRegistry({ accessLog: true });
  const writer = await openReference(`${upstream.host}/stall/kernel`, { create: true, sources: false });
  const { Readable } = await import('node:stream');
  await writer.target.push(blob, Readable.from([content]));
  await writer.close();
  // Sends the headers and the first 100 000 bytes of any blob, then nothing more (the socket stays open).
  mirror = await startScriptedServer(async (req, res) => {
    if (!req.path.includes('/blobs/')) {
      res.statusCode = 404;
      res.end();
      return;
    }
    res.writeHead(200, {
      'content-length': String(content.length),
      'content-type': 'application/octet-stream',
    });
    res.write(content.subarray(0, 100_000));
    await new Promise((done) => setTimeout(done, 5_000));
    res.destroy();
  });
});
afterAll(async () => {
  await mirror?.stop();
  await upstream?.stop();
});

async function readAll(opened: OpenedTarget, desc: Descriptor): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of await opened.target.fetch(desc)) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

it('a stalled mirror is left after its stall limit; the upstream carries the blob on from byte 100 000', async () => {
  const opened = await openReference(`${upstream.host}/stall/kernel:1`, {
    sources: { registriesConf: false, mirrors: [mirror.host], mirrorStallTimeoutMs: 1_000 },
  });
  try {
    const target = opened.target as MirroredRepository;
    expect(target).toBeInstanceOf(MirroredRepository);
    const before = (await upstream.settledAccessLog()).length;
    expect((await readAll(opened, blob)).equals(content)).toBe(true);
    expect(target.servedBy(blob.digest)).toBe(`${mirror.host}/stall/kernel + ${upstream.host}/stall/kernel`);
    expect(target.skipped()).toEqual([
      expect.objectContaining({ source: `${mirror.host}/stall/kernel`, code: 'TRANSFER_STALLED' }),
    ]);
    const gets = (await upstream.settledAccessLog()).slice(before).filter((e) => e.method === 'GET');
    expect(gets.map((e) => ({ status: e.status, bytes: e.bytes }))).toEqual([
      { status: 206, bytes: content.length - 100_000 },
    ]);
    // Left for the rest of the pull: the next fetch goes to the upstream alone.
    const asked = mirror.requests.length;
    expect((await readAll(opened, blob)).equals(content)).toBe(true);
    expect(mirror.requests.length).toBe(asked);
    expect(target.servedBy(blob.digest)).toBe(`${upstream.host}/stall/kernel`);
  } finally {
    await opened.close();
  }
});

it('a mirror that stalls on the tag: once the upstream has said what the tag names, the pull goes on without its answer', async () => {
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: MediaType.OciManifest,
      config: { mediaType: MediaType.OciEmpty, digest: EMPTY_DIGEST, size: 2 },
      layers: [blob],
    }),
  );
  const writer = await openReference(`${upstream.host}/stall/kernel`, { create: true, sources: false });
  const { Readable } = await import('node:stream');
  const manifestDesc: Descriptor = {
    mediaType: MediaType.OciManifest,
    digest: `sha256:${createHash('sha256').update(manifest).digest('hex')}`,
    size: manifest.length,
  };
  await writer.target.push(
    { mediaType: MediaType.OciEmpty, digest: EMPTY_DIGEST, size: 2 },
    Readable.from([Buffer.from('{}')]),
  );
  await writer.target.push(manifestDesc, Readable.from([manifest]));
  await writer.target.tag(manifestDesc, 'slow');
  await writer.close();

  // Holds the tag's HEAD without answering; says "not here" to everything else.
  let headEnded!: () => void;
  const headClosed = new Promise<void>((resolve) => (headEnded = resolve));
  const slow = await startScriptedServer(async (req, res) => {
    if (req.method === 'HEAD' && req.path.endsWith('/manifests/slow')) {
      res.on('close', () => headEnded());
      return;
    }
    res.statusCode = 404;
    res.end();
  });
  try {
    const opened = await openReference(`${upstream.host}/stall/kernel:slow`, {
      // The mirror may answer for tags, so it is asked alongside the upstream; its first-byte limit
      // would end the held HEAD after 3 s if the pull waited for it.
      sources: { registriesConf: false, mirrors: [slow.host], tagFromMirror: true },
      firstByteTimeoutMs: 3_000,
    });
    const pull = (async () => {
      const desc = await opened.target.resolve('slow');
      const bytes = await readAll(opened, blob);
      return { digest: desc.digest, same: bytes.equals(content) };
    })();
    const first = await Promise.race([pull.then(() => 'pulled'), headClosed.then(() => 'mirror HEAD ended')]);
    expect(first).toBe('pulled');
    expect(await pull).toEqual({ digest: manifestDesc.digest, same: true });
    expect(slow.requests.filter((r) => r.method === 'HEAD').map((r) => r.path)).toEqual([
      '/v2/stall/kernel/manifests/slow',
    ]);
    // Closing the pull ends the held request instead of waiting for it.
    await opened.close();
    await headClosed;
  } finally {
    await slow.stop();
  }
});

it('a mirror answering one passing 500 is asked once more and serves the blob; one that keeps failing is left', async () => {
  // A site cache under a fleet's cold start: a passing 500 must not send this host to the upstream.
  let failures = 0;
  const flaky = await startScriptedServer((req, res) => {
    if (!req.path.includes('/blobs/')) {
      res.statusCode = 404;
      res.end();
      return;
    }
    if (failures++ < 1) {
      res.statusCode = 500;
      res.end();
      return;
    }
    res.writeHead(200, { 'content-length': String(content.length) });
    res.end(content);
  });
  const broken = await startScriptedServer((_req, res) => {
    res.statusCode = 500;
    res.end();
  });
  try {
    const once = await openReference(`${upstream.host}/stall/kernel:1`, {
      sources: { registriesConf: false, mirrors: [flaky.host] },
    });
    try {
      expect((await readAll(once, blob)).equals(content)).toBe(true);
      const target = once.target as MirroredRepository;
      expect(target.servedBy(blob.digest)).toBe(`${flaky.host}/stall/kernel`);
      expect(target.skipped()).toEqual([]);
      expect(flaky.requests.filter((r) => r.path.includes('/blobs/')).length).toBe(2);
    } finally {
      await once.close();
    }
    const always = await openReference(`${upstream.host}/stall/kernel:1`, {
      sources: { registriesConf: false, mirrors: [broken.host] },
    });
    try {
      expect((await readAll(always, blob)).equals(content)).toBe(true);
      const target = always.target as MirroredRepository;
      expect(target.servedBy(blob.digest)).toBe(`${upstream.host}/stall/kernel`);
      expect(target.skipped()).toEqual([expect.objectContaining({ source: `${broken.host}/stall/kernel` })]);
      expect(broken.requests.filter((r) => r.path.includes('/blobs/')).length).toBe(2);
    } finally {
      await always.close();
    }
  } finally {
    await flaky.stop();
    await broken.stop();
  }
});
