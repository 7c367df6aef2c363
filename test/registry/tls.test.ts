/**
 * TLS against a real TLS server with a self-signed certificate made by openssl: verification fails
 * with TLS_FAILED (exit 3); --insecure gets through to the server's own answer; --ca-file with the
 * server's certificate verifies it, another CA does not.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { runKart } from '../support/kart-cli.ts';
import { makeSelfSignedCert } from '../support/self-signed-cert.ts';

let dir: string;
let server: Server;
let host: string;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'kart-tls-'));
  // IP subject-alt-names, so that --ca-file with this certificate verifies the server's address.
  const cert = makeSelfSignedCert(dir, 'kart-test', { san: 'IP:127.0.0.1,IP:::ffff:127.0.0.1' });
  server = createServer(
    { key: readFileSync(cert.keyPath), cert: readFileSync(cert.certPath) },
    (_req, res) => {
      res.writeHead(404, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ errors: [{ code: 'MANIFEST_UNKNOWN', message: 'manifest unknown' }] }));
    },
  );
  // Listen on IPv6 any (dual stack); [::ffff:127.0.0.1] is not a loopback name, so kart uses HTTPS.
  await new Promise<void>((done) => server.listen(0, '::', done));
  host = `[::ffff:127.0.0.1]:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  server?.closeAllConnections();
  await new Promise((done) => server?.close(done));
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const kart = (...args: string[]) => runKart(args);

it('a self-signed certificate fails with TLS_FAILED, exit 3; --insecure reaches the registry', async () => {
  const failed = await kart('resolve', `${host}/kart/kernel:1`);
  expect(failed.code).toBe(3);
  expect(failed.stderr).toBe(
    `kart: error: manifest ${host}/kart/kernel:1: TLS handshake with ${new URL(`https://${host}`).host} failed (DEPTH_ZERO_SELF_SIGNED_CERT)\n` +
      "kart: hint: pass --ca-file with the registry's CA, --insecure to skip verification, or --plain-http if it speaks HTTP\n",
  );
  const insecure = await kart('resolve', '--insecure', `${host}/kart/kernel:1`);
  expect(insecure.code).toBe(3);
  expect(insecure.stderr).toContain('not found (MANIFEST_UNKNOWN: manifest unknown)');
});

it("--ca-file with the server's CA verifies it; another CA fails; an unreadable file is refused", async () => {
  const trusted = await kart('resolve', '--ca-file', join(dir, 'kart-test.crt'), `${host}/kart/kernel:1`);
  expect(trusted.stderr).toContain('not found (MANIFEST_UNKNOWN: manifest unknown)');
  expect(trusted.code).toBe(3);

  const other = makeSelfSignedCert(dir, 'other');
  const untrusted = await kart('resolve', '--ca-file', other.certPath, `${host}/kart/kernel:1`);
  expect(untrusted.code).toBe(3);
  expect(untrusted.stderr).toContain('TLS handshake with');

  const missing = await kart('resolve', '--ca-file', join(dir, 'absent.pem'), `${host}/kart/kernel:1`);
  expect(missing.code).toBe(2);
  expect(missing.stderr).toContain(`--ca-file ${join(dir, 'absent.pem')}: cannot read it (ENOENT)`);
});
