/**
 * HTTP_PROXY / NO_PROXY: kart's registry requests go through the proxy the environment names, and
 * bypass it for hosts NO_PROXY lists; `kart login` too. The proxy is a small forward proxy in front of
 * the real registry.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { runKart } from '../support/kart-cli.ts';
import { startRegistry, type TestRegistry } from '../support/registry.ts';

let registry: TestRegistry;
let proxy: Server;
let proxyUrl: string;
const proxied: string[] = [];

beforeAll(async () => {
  registry = await startRegistry();
  // A forward proxy: requests arrive with absolute URLs; record them and pass them on.
  proxy = createServer((req, res) => {
    proxied.push(`${req.method} ${req.url}`);
    const upstream = request(req.url!, { method: req.method, headers: req.headers }, (answer) => {
      res.writeHead(answer.statusCode ?? 502, answer.headers);
      answer.pipe(res);
    });
    upstream.on('error', () => res.destroy());
    req.pipe(upstream);
  });
  await new Promise<void>((done) => proxy.listen(0, '127.0.0.1', done));
  proxyUrl = `http://127.0.0.1:${(proxy.address() as AddressInfo).port}`;
});
afterAll(async () => {
  proxy?.closeAllConnections();
  await new Promise((done) => proxy?.close(done));
  await registry?.stop();
});

/** kart with only these proxy variables (any the machine has set are dropped). */
function kart(env: Record<string, string>, ...args: string[]) {
  const clean = Object.fromEntries(
    Object.entries(process.env).filter(([name]) => !/^(https?|no)_proxy$/i.test(name)),
  );
  return runKart(args, { env: { ...clean, ...env }, input: 'password\n' });
}

it('sends registry requests through HTTP_PROXY, and straight to the registry for NO_PROXY hosts', async () => {
  const through = await kart({ HTTP_PROXY: proxyUrl }, 'resolve', `${registry.host}/kart/absent:1`);
  expect(through.code).toBe(3);
  expect(through.stderr).toContain('not found');
  expect(proxied).toContain(`HEAD ${registry.url}/v2/kart/absent/manifests/1`);

  const seen = proxied.length;
  const direct = await kart(
    { HTTP_PROXY: proxyUrl, NO_PROXY: '127.0.0.1' },
    'resolve',
    `${registry.host}/kart/absent:2`,
  );
  expect(direct.code).toBe(3);
  expect(direct.stderr).toContain('not found');
  expect(proxied.length).toBe(seen);
});

it('kart login goes through HTTP_PROXY as every other registry request does', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'kart-proxy-login-'));
  try {
    const authfile = join(dir, 'auth.json');
    const seen = proxied.length;
    const login = await kart(
      { HTTP_PROXY: proxyUrl },
      'login',
      registry.host,
      '-u',
      'alice',
      '--password-stdin',
      '--authfile',
      authfile,
    );
    expect(login.code).toBe(0);
    // The registry lets anyone in: kart says so, and saves the login all the same.
    expect(login.stderr).toContain('lets anyone in');
    expect(proxied.slice(seen)).toEqual([`GET ${registry.url}/v2/`]);
    expect(Object.keys(JSON.parse(readFileSync(authfile, 'utf8')).auths)).toEqual([registry.host]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
