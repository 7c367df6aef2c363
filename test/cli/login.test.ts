import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readlinkSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAuthorizer } from '../../src/registry/auth/create-authorizer.ts';
import { createCredentialStore } from '../../src/registry/credentials/credential-store.ts';
import { startAuthRegistry, type AuthRegistry, type TestUsers } from '../support/registry-auth.ts';

const KART = resolve(import.meta.dirname, '../../bin/kart.js');
const PASSWORD = 'Cli-Pa55-never-printed';
const USERS: TestUsers = { alice: { password: PASSWORD, access: { 'acme/k': ['pull', 'push'] } } };

let work: string;
const b64 = (s: string) => Buffer.from(s).toString('base64');

/**
 * Children run asynchronously: the token endpoint lives in this process, so a synchronous spawn would
 * block the very server the child is waiting for.
 */
function run(
  command: string,
  args: string[],
  stdin = '',
  env: NodeJS.ProcessEnv = process.env,
): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(command, args, { env, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.on('error', reject);
    child.on('close', (status) => resolvePromise({ status, stdout, stderr }));
    child.stdin.end(stdin);
  });
}

function kart(args: string[], stdin = '', env: NodeJS.ProcessEnv = {}) {
  return run(process.execPath, [KART, ...args], stdin, {
    ...process.env,
    HOME: join(work, 'home'),
    DOCKER_CONFIG: join(work, 'docker'),
    REGISTRY_AUTH_FILE: '',
    XDG_RUNTIME_DIR: '',
    ...env,
  });
}

async function skopeo(args: string[], stdin = ''): Promise<string> {
  const r = await run('skopeo', args, stdin);
  if (r.status !== 0) throw new Error(`skopeo ${args.join(' ')} failed (${r.status}): ${r.stderr}`);
  return r.stdout;
}

/** A one-layer OCI layout skopeo can push (so skopeo inspect has something to read). */
function tinyLayout(dir: string): void {
  const blob = (data: string) => {
    const digest = createHash('sha256').update(data).digest('hex');
    mkdirSync(join(dir, 'blobs', 'sha256'), { recursive: true });
    writeFileSync(join(dir, 'blobs', 'sha256', digest), data);
    return { digest: `sha256:${digest}`, size: Buffer.byteLength(data) };
  };
  const layer = blob('kart login test layer');
  const config = blob(
    JSON.stringify({
      architecture: 'amd64',
      os: 'linux',
      rootfs: { type: 'layers', diff_ids: [layer.digest] },
    }),
  );
  const manifest = blob(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', ...config },
      layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar', ...layer }],
    }),
  );
  writeFileSync(join(dir, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}');
  writeFileSync(
    join(dir, 'index.json'),
    JSON.stringify({
      schemaVersion: 2,
      manifests: [
        {
          mediaType: 'application/vnd.oci.image.manifest.v1+json',
          ...manifest,
          annotations: { 'org.opencontainers.image.ref.name': 'v1' },
        },
      ],
    }),
  );
}

describe.each(['htpasswd', 'token'] as const)('kart login / logout against a %s registry', (mode) => {
  let auth: AuthRegistry;
  beforeAll(async () => {
    work = mkdtempSync(join(tmpdir(), 'kart-login-'));
    auth = await startAuthRegistry(mode, USERS);
  });
  afterAll(async () => {
    await auth?.stop();
    rmSync(work, { recursive: true, force: true });
  });

  it('login verifies, writes docker config.json, and skopeo uses the file', async () => {
    const r = await kart(['login', auth.registry.host, '-u', 'alice', '--password-stdin'], `${PASSWORD}\n`);
    expect(r).toStrictEqual({
      status: 0,
      stdout: `Login succeeded: ${auth.registry.host} (saved to ${join(work, 'docker', 'config.json')})\n`,
      stderr: '',
    });
    const config = JSON.parse(readFileSync(join(work, 'docker', 'config.json'), 'utf8'));
    expect(config).toStrictEqual({ auths: { [auth.registry.host]: { auth: b64(`alice:${PASSWORD}`) } } });
    const layout = join(work, 'layout');
    tinyLayout(layout);
    const authfile = join(work, 'docker', 'config.json');
    await skopeo([
      'copy',
      '--dest-tls-verify=false',
      '--dest-authfile',
      authfile,
      `oci:${layout}:v1`,
      `docker://${auth.registry.host}/acme/k:v1`,
    ]);
    const inspected = JSON.parse(
      await skopeo([
        'inspect',
        '--raw',
        '--tls-verify=false',
        '--authfile',
        authfile,
        `docker://${auth.registry.host}/acme/k:v1`,
      ]),
    );
    // skopeo may recompress the layer; what matters is that it got in with kart's file.
    expect(inspected.layers).toHaveLength(1);
    expect(inspected.schemaVersion).toBe(2);
  });

  it('a symlinked auth file stays a symlink: the file it names gets the credentials (as docker does)', async () => {
    const real = join(work, 'dotfiles', `config-${mode}.json`);
    mkdirSync(join(work, 'dotfiles'), { recursive: true });
    writeFileSync(real, JSON.stringify({ auths: {}, credsStore: '' }));
    const link = join(work, `linked-${mode}.json`);
    symlinkSync(real, link);
    const r = await kart(
      ['login', auth.registry.host, '-u', 'alice', '--password-stdin', '--authfile', link],
      PASSWORD,
    );
    expect(r.status, r.stderr).toBe(0);
    expect(lstatSync(link).isSymbolicLink()).toBe(true);
    expect(readlinkSync(link)).toBe(real);
    expect(JSON.parse(readFileSync(real, 'utf8'))).toStrictEqual({
      auths: { [auth.registry.host]: { auth: b64(`alice:${PASSWORD}`) } },
      credsStore: '',
    });
    expect(statSync(real).mode & 0o777).toBe(0o600);
  });

  it('bad credentials: exit 3, LOGIN_FAILED, nothing written, the password appears in no output', async () => {
    const authfile = join(work, 'bad-auth.json');
    const wrong = `wrong-${PASSWORD}`;
    const r = await kart(
      ['login', auth.registry.host, '-u', 'alice', '--password-stdin', '--authfile', authfile, '--verbose'],
      wrong,
    );
    expect(r.status).toBe(3);
    const detail = mode === 'htpasswd' ? 'GET /v2/ answered 401' : 'its token service answered 401';
    expect(r.stderr).toContain(
      `kart: error: registry ${auth.registry.host} refused the credentials of user "alice" (${detail})\n`,
    );
    expect(r.stderr).toContain(
      'kart: hint: check the user name and password (or token); nothing was saved\n',
    );
    expect(existsSync(authfile)).toBe(false);
    const json = await kart(
      ['login', auth.registry.host, '-u', 'alice', '--password-stdin', '--json', '--authfile', authfile],
      wrong,
    );
    expect(JSON.parse(json.stdout).error.code).toBe('LOGIN_FAILED');
    for (const output of [r.stdout, r.stderr, json.stdout, json.stderr]) {
      expect(output).not.toContain(wrong);
      expect(output).not.toContain(b64(`alice:${wrong}`));
    }
  });

  it('skopeo login writes auth.json; kart reads it and gets in; kart logout removes it', async () => {
    const authfile = join(work, 'skopeo-auth.json');
    await skopeo(
      [
        'login',
        '--tls-verify=false',
        '--authfile',
        authfile,
        '-u',
        'alice',
        '--password-stdin',
        auth.registry.host,
      ],
      PASSWORD,
    );
    const store = createCredentialStore({
      env: { HOME: join(work, 'nohome'), REGISTRY_AUTH_FILE: authfile },
    });
    expect(await store.get(auth.registry.host)).toStrictEqual({ username: 'alice', password: PASSWORD });
    const authorizer = createAuthorizer({ credentials: store });
    const url = new URL(`${auth.registry.url}/v2/acme/k/tags/list`);
    const first = await request(url);
    await first.body.dump();
    const header = await authorizer.challenge(url, String(first.headers['www-authenticate']), [
      'repository:acme/k:pull',
    ]);
    const tags = await request(url, { headers: { authorization: header! } });
    expect(tags.statusCode).toBe(200);
    expect(await tags.body.json()).toStrictEqual({ name: 'acme/k', tags: ['v1'] });
    const out = await kart(['logout', auth.registry.host, '--authfile', authfile]);
    expect(out).toStrictEqual({
      status: 0,
      stdout: `Removed login credentials for ${auth.registry.host} (from ${authfile})\n`,
      stderr: '',
    });
    expect(JSON.parse(readFileSync(authfile, 'utf8')).auths).toStrictEqual({});
    expect((await kart(['logout', auth.registry.host, '--authfile', authfile])).stdout).toBe(
      `Not logged in to ${auth.registry.host}\n`,
    );
  });
});

describe('kart login input errors (exit 2, nothing contacted or written)', () => {
  beforeAll(() => {
    work = mkdtempSync(join(tmpdir(), 'kart-login-in-'));
  });
  afterAll(() => rmSync(work, { recursive: true, force: true }));

  it.each([
    [['login', 'reg.example'], 'kart: error: kart login needs a user name\n'],
    [['login', 'reg.example', '-u', 'a'], 'kart: error: kart login needs the password on stdin\n'],
    [
      ['login', 'reg.example', '-u', 'a', '-p', 'x', '--password-stdin'],
      'kart: error: --password and --password-stdin exclude each other\n',
    ],
    [
      ['login', 'bad host!', '-u', 'a', '--password-stdin'],
      'kart: error: "bad host!" is not a registry host\n',
    ],
    [
      ['login', 'reg.example', '-u', 'a', '--password-stdin'],
      'kart: error: a user name and a non-empty password are needed\n',
    ],
  ])('%j', async (args, firstLine) => {
    const r = await kart(args, '');
    expect(r.status).toBe(2);
    expect(r.stderr.split('\n')[0] + '\n').toBe(firstLine);
    expect(existsSync(join(work, 'docker', 'config.json'))).toBe(false);
  });

  it('--ca-file that cannot be read: CA_FILE_UNREADABLE, exit 2, before any connection', async () => {
    const missing = join(work, 'absent.pem');
    const r = await kart(['login', '127.0.0.1:1', '-u', 'a', '--password-stdin', '--ca-file', missing], 'pw');
    expect(r).toStrictEqual({
      status: 2,
      stdout: '',
      stderr:
        `kart: error: --ca-file ${missing}: cannot read it (ENOENT)\n` +
        "kart: hint: pass a readable PEM file holding the registry's CA certificate\n",
    });
  });

  it('-p warns that the command line is visible; an unreachable registry is exit 3', async () => {
    const r = await kart(['login', '127.0.0.1:1', '-u', 'a', '-p', 'secret-on-cli']);
    expect(r.status).toBe(3);
    expect(r.stderr).toContain('kart: warning: a password on the command line is visible to other users');
    expect(r.stderr).toContain(
      'kart: error: registry 127.0.0.1:1 cannot be reached at http://127.0.0.1:1 (ECONNREFUSED)',
    );
    expect(r.stderr).not.toContain('secret-on-cli');
  });
});
