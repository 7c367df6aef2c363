import { createHash } from 'node:crypto';
import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { seededRandom, startFaultProxy, type FaultProxy } from '../support/fault-proxy.ts';
import { startRegistry, type TestRegistry } from '../support/registry.ts';

/** The fault proxy itself: each fault happens exactly where it is asked for, and only there. */

let registry: TestRegistry;
const blob = Buffer.alloc(300_000);
for (let i = 0; i < blob.length; i++) blob[i] = (i * 7919) % 251;
const digest = `sha256:${createHash('sha256').update(blob).digest('hex')}`;
const blobPath = `/v2/proxy/test/blobs/${digest}`;

beforeAll(async () => {
  registry = await startRegistry();
  const started = await fetch(`${registry.url}/v2/proxy/test/blobs/uploads/`, { method: 'POST' });
  expect(started.status).toBe(202);
  const location = new URL(started.headers.get('location') ?? '', registry.url);
  location.searchParams.set('digest', digest);
  const put = await fetch(location, { method: 'PUT', body: blob });
  expect(put.status).toBe(201);
});

afterAll(async () => {
  await registry?.stop();
});

const target = () => ({ hostname: '127.0.0.1', port: Number(new URL(registry.url).port) });

/** A raw GET over one TCP connection: every byte the client received, and how the connection ended. */
function rawGet(host: string, path: string): Promise<{ bytes: Buffer; ending: string }> {
  const [hostname, port] = host.split(':') as [string, string];
  return new Promise((resolve) => {
    const socket = connect(Number(port), hostname);
    const parts: Buffer[] = [];
    socket.on('connect', () =>
      socket.write(`GET ${path} HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`),
    );
    socket.on('data', (chunk: Buffer) => parts.push(chunk));
    socket.on('error', (error: NodeJS.ErrnoException) =>
      resolve({ bytes: Buffer.concat(parts), ending: error.code ?? 'error' }),
    );
    socket.on('end', () => resolve({ bytes: Buffer.concat(parts), ending: 'end' }));
  });
}

function bodyOf(response: Buffer): Buffer {
  return response.subarray(response.indexOf('\r\n\r\n') + 4);
}

async function withProxy<T>(proxy: FaultProxy, body: (proxy: FaultProxy) => Promise<T>): Promise<T> {
  try {
    return await body(proxy);
  } finally {
    await proxy.stop();
  }
}

describe('fault proxy', () => {
  it('passes everything through unchanged when no fault is planned', async () => {
    await withProxy(await startFaultProxy(target(), { seed: 1 }), async (proxy) => {
      const { bytes, ending } = await rawGet(proxy.host, blobPath);
      expect(ending).toBe('end');
      expect(bodyOf(bytes).equals(blob)).toBe(true);
      expect(proxy.fired()).toEqual({ resets: 0, stalls: 0, status500: 0, status429: 0 });
    });
  });

  it('resets the connection once the chosen number of downstream bytes went through, never later', async () => {
    const plan = {
      seed: 2,
      connectionScript: [{ kind: 'reset' as const, direction: 'downstream' as const, atByte: 123_457 }],
    };
    await withProxy(await startFaultProxy(target(), plan), async (proxy) => {
      const { bytes, ending } = await rawGet(proxy.host, blobPath);
      expect(ending).toBe('ECONNRESET');
      // The proxy writes exactly 123 457 bytes, then resets; the peer's kernel drops whatever of them
      // the client had not read yet when the RST arrived, so fewer may arrive, never more.
      expect(bytes.length).toBeGreaterThan(0);
      expect(bytes.length).toBeLessThanOrEqual(123_457);
      // What did arrive is the true prefix of the answer.
      const body = bodyOf(bytes);
      expect(body.equals(blob.subarray(0, body.length))).toBe(true);
      expect(proxy.fired().resets).toBe(1);
      // The next connection is not scripted and the plan has no random faults: it passes.
      const again = await rawGet(proxy.host, blobPath);
      expect(bodyOf(again.bytes).equals(blob)).toBe(true);
    });
  });

  it('resets mid-request when the upstream offset is reached, so the registry never sees the whole request', async () => {
    const plan = {
      seed: 3,
      connectionScript: [{ kind: 'reset' as const, direction: 'upstream' as const, atByte: 10 }],
    };
    await withProxy(await startFaultProxy(target(), plan), async (proxy) => {
      const { bytes, ending } = await rawGet(proxy.host, blobPath);
      expect(ending).toBe('ECONNRESET');
      expect(bytes.length).toBe(0);
      expect(proxy.events[0]).toMatchObject({ layer: 'connection', fired: true });
    });
  });

  it('stalls at the chosen offset and then delivers every byte', async () => {
    const plan = {
      seed: 4,
      connectionScript: [
        { kind: 'stall' as const, direction: 'downstream' as const, atByte: 50_000, ms: 100 },
      ],
    };
    await withProxy(await startFaultProxy(target(), plan), async (proxy) => {
      const { bytes, ending } = await rawGet(proxy.host, blobPath);
      expect(ending).toBe('end');
      expect(bodyOf(bytes).equals(blob)).toBe(true);
      expect(proxy.fired().stalls).toBe(1);
    });
  });

  it('answers scripted requests with 429 + Retry-After and 500 itself, then forwards the rest', async () => {
    const plan = {
      seed: 5,
      requestScript: [
        { kind: 'status' as const, status: 429 as const, retryAfterSeconds: 2 },
        { kind: 'status' as const, status: 500 as const },
      ],
    };
    await withProxy(await startFaultProxy(target(), plan), async (proxy) => {
      const first = await fetch(`http://${proxy.host}${blobPath}`);
      expect(first.status).toBe(429);
      expect(first.headers.get('retry-after')).toBe('2');
      expect(await first.json()).toEqual({ errors: [{ code: 'TOOMANYREQUESTS', message: 'injected 429' }] });
      const second = await fetch(`http://${proxy.host}${blobPath}`);
      expect(second.status).toBe(500);
      await second.arrayBuffer();
      const third = await fetch(`http://${proxy.host}${blobPath}`);
      expect(third.status).toBe(200);
      expect(Buffer.from(await third.arrayBuffer()).equals(blob)).toBe(true);
      expect(proxy.fired()).toEqual({ resets: 0, stalls: 0, status500: 1, status429: 1 });
    });
  });

  it('keeps the Host header, so Location URLs the registry writes lead back through the proxy', async () => {
    await withProxy(await startFaultProxy(target(), { seed: 6 }), async (proxy) => {
      const started = await fetch(`http://${proxy.host}/v2/proxy/test/blobs/uploads/`, { method: 'POST' });
      expect(started.status).toBe(202);
      expect(new URL(started.headers.get('location') ?? '').host).toBe(proxy.host);
    });
  });

  it('draws the same faults from the same seed (a failing run reproduces)', async () => {
    const plan = (seed: number) => ({ seed, resetProbability: 0.3, stallProbability: 0.3, maxOffset: 1000 });
    const faultsOf = async (seed: number) =>
      withProxy(await startFaultProxy(target(), plan(seed)), async (proxy) => {
        for (let i = 0; i < 8; i++) await rawGet(proxy.host, '/v2/');
        return proxy.events.map((e) => (e.layer === 'connection' ? e.fault : undefined));
      });
    const a = await faultsOf(77);
    expect(await faultsOf(77)).toEqual(a);
    expect(a.some((f) => f?.kind === 'reset')).toBe(true);
    expect(a.some((f) => f?.kind === 'stall')).toBe(true);
    expect(await faultsOf(78)).not.toEqual(a);
  });

  it('seededRandom is a fixed sequence in [0, 1)', () => {
    const next = seededRandom(42);
    const values = Array.from({ length: 1000 }, next);
    expect(values.every((v) => v >= 0 && v < 1)).toBe(true);
    const again = seededRandom(42);
    expect(Array.from({ length: 1000 }, again)).toEqual(values);
  });
});
