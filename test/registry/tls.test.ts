/**
 * TLS against a real TLS server with a self-signed certificate made by openssl: verification fails
 * with TLS_FAILED (exit 3); --insecure gets through to the server's own answer; --ca-file with the
 * server's certificate verifies it, another CA does not. Then the same certificate in front of the
 * real registry (htpasswd auth): login, publish, inspect and unpack all reach it with --ca-file, the
 * one transport flag set every registry command shares.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { debianKernelPaths } from '../support/debian-kernels.ts';
import { runKart } from '../support/kart-cli.ts';
import { startAuthRegistry, type AuthRegistry } from '../support/registry-auth.ts';
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

describe('--ca-file in front of the real registry: login, publish, inspect, unpack', () => {
  const PASSWORD = 'Tls-Pa55-never-shown';
  let auth: AuthRegistry;
  let front: Server;
  let tlsHost: string;
  let caFile: string;

  beforeAll(async () => {
    auth = await startAuthRegistry('htpasswd', { alice: { password: PASSWORD } });
    caFile = join(dir, 'kart-test.crt');
    const [hostname, port] = auth.registry.host.split(':');
    // TLS terminated here, the request passed on to the registry, which builds its Location URLs
    // with https and this host (X-Forwarded-Proto, Host).
    front = createServer(
      { key: readFileSync(join(dir, 'kart-test.key')), cert: readFileSync(caFile) },
      (req, res) => {
        const upstream = request(
          {
            hostname,
            port: Number(port),
            method: req.method,
            path: req.url,
            headers: { ...req.headers, 'x-forwarded-proto': 'https' },
          },
          (answer) => {
            res.writeHead(answer.statusCode ?? 502, answer.rawHeaders);
            answer.pipe(res);
          },
        );
        upstream.on('error', () => res.destroy());
        req.pipe(upstream);
      },
    );
    await new Promise<void>((done) => front.listen(0, '::', done));
    tlsHost = `[::ffff:127.0.0.1]:${(front.address() as AddressInfo).port}`;
    writeFileSync(join(dir, 'tls-flavor.ini'), 'description = TLS test flavor\n');
  });
  afterAll(async () => {
    front?.closeAllConnections();
    await new Promise((done) => front?.close(done));
    await auth?.stop();
  });

  const kart = (args: string[], input?: string) =>
    runKart(args, {
      env: {
        ...process.env,
        HOME: join(dir, 'home'),
        DOCKER_CONFIG: join(dir, 'docker'),
        REGISTRY_AUTH_FILE: '',
        XDG_RUNTIME_DIR: '',
      },
      ...(input === undefined ? {} : { input }),
    });
  const tlsFailed = (what: string) =>
    `kart: error: ${what}: TLS handshake with ${new URL(`https://${tlsHost}`).host} failed (DEPTH_ZERO_SELF_SIGNED_CERT)\n` +
    "kart: hint: pass --ca-file with the registry's CA, --insecure to skip verification, or --plain-http if it speaks HTTP\n";

  it('kart login verifies the credentials over TLS with --ca-file, and fails the handshake without', async () => {
    const login = ['login', tlsHost, '-u', 'alice', '--password-stdin'];
    const refused = await kart(login, PASSWORD);
    expect(refused).toEqual({
      code: 3,
      stdout: '',
      stderr: tlsFailed(`registry ${new URL(`https://${tlsHost}`).host}`),
    });
    const trusted = await kart([...login, '--ca-file', caFile], PASSWORD);
    const saved = new URL(`https://${tlsHost}`).host;
    expect(trusted).toEqual({
      code: 0,
      stdout: `Login succeeded: ${saved} (saved to ${join(dir, 'docker', 'config.json')})\n`,
      stderr: '',
    });
    // Saved under the host as URLs write it, so that later commands find it.
    expect(Object.keys(JSON.parse(readFileSync(join(dir, 'docker', 'config.json'), 'utf8')).auths)).toEqual([
      saved,
    ]);
  });

  it('kart publish, inspect and unpack reach the registry with --ca-file (and fail without)', async () => {
    const debian = debianKernelPaths('cloud-amd64');
    const publishArgs = [
      'publish',
      '--kernel',
      debian.vmlinuz,
      '--config',
      debian.config,
      '--flavor',
      join(dir, 'tls-flavor.ini'),
      '--to',
      `${tlsHost}/acme/tls`,
      '--no-alias',
      '--json',
    ];
    const refused = await kart(publishArgs);
    expect(refused.code).toBe(3);
    expect(JSON.parse(refused.stdout).error.code).toBe('TLS_FAILED');

    const published = await kart([...publishArgs, '--ca-file', caFile]);
    expect(published.stderr).toBe('');
    expect(published.code).toBe(0);
    const result = JSON.parse(published.stdout) as {
      manifest: { digest: string };
      version: string;
      tags: Array<{ tag: string }>;
    };
    const ref = `${tlsHost}/acme/tls:${result.version}`;
    expect(result.tags.map((t) => t.tag)).toContain(result.version);

    expect((await kart(['inspect', ref])).stderr).toBe(tlsFailed(`manifest ${ref}`));
    const inspected = await kart(['inspect', '--ca-file', caFile, '--json', ref]);
    expect(inspected.code).toBe(0);
    const platforms = (JSON.parse(inspected.stdout) as { platforms: Array<Record<string, unknown>> })
      .platforms;
    expect(platforms.map((p) => [p.platform, (p.manifest as { digest: string }).digest])).toEqual([
      ['linux/amd64', result.manifest.digest],
    ]);

    const dest = join(dir, 'unpacked');
    const unpacked = await kart(['unpack', '--ca-file', caFile, '--arch', 'amd64', '--dest', dest, ref]);
    expect(unpacked.code).toBe(0);
    expect(readFileSync(join(dest, 'kernel'))).toEqual(readFileSync(debian.vmlinuz));
  });
});
