import {
  chmodSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
  existsSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createCredentialStore } from '../../../src/registry/credentials/credential-store.ts';
import type { KartError } from '../../../src/errors.ts';

let dir: string;
let env: NodeJS.ProcessEnv;
const b64 = (s: string) => Buffer.from(s).toString('base64');

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'kart-creds-'));
  mkdirSync(join(dir, 'docker'));
  mkdirSync(join(dir, 'bin'));
  env = {
    DOCKER_CONFIG: join(dir, 'docker'),
    HOME: join(dir, 'home'),
    PATH: `${join(dir, 'bin')}:${process.env.PATH}`,
  };
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const dockerConfig = () => join(dir, 'docker', 'config.json');
const writeJson = (path: string, value: unknown) => writeFileSync(path, JSON.stringify(value));

/** A docker-credential-test helper: answers from/updates a JSON file, logs what it was asked. */
function installHelper(name = 'test') {
  const state = join(dir, `${name}-state.json`);
  const log = join(dir, `${name}-log.txt`);
  writeFileSync(state, '{}');
  const script = `#!/usr/bin/env node
const fs = require('fs');
const action = process.argv[2];
const input = fs.readFileSync(0, 'utf8');
fs.appendFileSync(${JSON.stringify(log)}, action + ' ' + (action === 'store' ? JSON.parse(input).ServerURL : input) + '\\n');
const state = JSON.parse(fs.readFileSync(${JSON.stringify(state)}, 'utf8'));
if (action === 'get') {
  if (!state[input]) { process.stdout.write('credentials not found in native keychain'); process.exit(1); }
  process.stdout.write(JSON.stringify({ ServerURL: input, ...state[input] }));
} else if (action === 'store') {
  const c = JSON.parse(input); state[c.ServerURL] = { Username: c.Username, Secret: c.Secret };
  fs.writeFileSync(${JSON.stringify(state)}, JSON.stringify(state));
} else if (action === 'erase') {
  if (!state[input]) { process.stdout.write('credentials not found in native keychain'); process.exit(1); }
  delete state[input]; fs.writeFileSync(${JSON.stringify(state)}, JSON.stringify(state));
}
`;
  const program = join(dir, 'bin', `docker-credential-${name}`);
  writeFileSync(program, script.replace('/usr/bin/env node', process.execPath));
  chmodSync(program, 0o755);
  return {
    state: () =>
      JSON.parse(readFileSync(state, 'utf8')) as Record<string, { Username: string; Secret: string }>,
    seed: (value: unknown) => writeJson(state, value),
    log: () => (existsSync(log) ? readFileSync(log, 'utf8') : ''),
  };
}

describe('reading docker config.json', () => {
  it('auth (base64 user:pass), username/password, identitytoken, legacy keys, Docker Hub', async () => {
    writeJson(dockerConfig(), {
      auths: {
        'reg.example:5000': { auth: b64('alice:pa:ss') },
        'https://legacy.example/v2/': { username: 'bob', password: 'pw' },
        'idp.example': { auth: b64('<token>:'), identitytoken: 'refresh-me' },
        'https://index.docker.io/v1/': { auth: b64('hubuser:hubpw') },
        'empty.example': {},
      },
    });
    const store = createCredentialStore({ env });
    expect(await store.get('reg.example:5000')).toStrictEqual({ username: 'alice', password: 'pa:ss' });
    expect(await store.get('legacy.example')).toStrictEqual({ username: 'bob', password: 'pw' });
    expect(await store.get('idp.example')).toStrictEqual({
      username: '<token>',
      identityToken: 'refresh-me',
    });
    expect(await store.get('registry-1.docker.io')).toStrictEqual({ username: 'hubuser', password: 'hubpw' });
    expect(await store.get('docker.io')).toStrictEqual({ username: 'hubuser', password: 'hubpw' });
    expect(await store.get('empty.example')).toBeUndefined();
    expect(await store.get('other.example')).toBeUndefined();
  });

  it('falls back to REGISTRY_AUTH_FILE, else $XDG_RUNTIME_DIR/containers/auth.json; docker config wins', async () => {
    const xdg = join(dir, 'run');
    mkdirSync(join(xdg, 'containers'), { recursive: true });
    writeJson(join(xdg, 'containers', 'auth.json'), { auths: { 'a.example': { auth: b64('x:from-xdg') } } });
    expect(
      await createCredentialStore({ env: { ...env, XDG_RUNTIME_DIR: xdg } }).get('a.example'),
    ).toStrictEqual({
      username: 'x',
      password: 'from-xdg',
    });
    const authFile = join(dir, 'auth.json');
    writeJson(authFile, { auths: { 'a.example': { auth: b64('x:from-env') } } });
    const both = { ...env, XDG_RUNTIME_DIR: xdg, REGISTRY_AUTH_FILE: authFile };
    expect(await createCredentialStore({ env: both }).get('a.example')).toStrictEqual({
      username: 'x',
      password: 'from-env',
    });
    writeJson(dockerConfig(), { auths: { 'a.example': { auth: b64('x:from-docker') } } });
    expect(await createCredentialStore({ env: both }).get('a.example')).toStrictEqual({
      username: 'x',
      password: 'from-docker',
    });
  });

  it('a malformed file is CREDENTIALS_FILE_INVALID naming the file and field, never the values', async () => {
    writeFileSync(dockerConfig(), '{"auths": {"a.example": {"auth": "c2VjcmV0LXZhbHVl"');
    let e = (await createCredentialStore({ env })
      .get('a.example')
      .catch((x: unknown) => x)) as KartError;
    expect([e.code, e.message, e.exitCode]).toStrictEqual([
      'CREDENTIALS_FILE_INVALID',
      `credentials file ${dockerConfig()}: is not valid JSON`,
      2,
    ]);
    writeJson(dockerConfig(), { auths: { 'a.example': { auth: 42 } } });
    e = (await createCredentialStore({ env })
      .get('a.example')
      .catch((x: unknown) => x)) as KartError;
    expect(e.message).toBe(
      `credentials file ${dockerConfig()}: field "auths.a.example.auth" Invalid input: expected string, received number`,
    );
    writeJson(dockerConfig(), { auths: { 'a.example': { auth: b64('no-colon-secret') } } });
    e = (await createCredentialStore({ env })
      .get('a.example')
      .catch((x: unknown) => x)) as KartError;
    expect(e.message).toBe(
      `credentials file ${dockerConfig()}: an "auth" value is not base64 of "user:password"`,
    );
    expect(e.message).not.toContain('no-colon-secret');
  });
});

describe('credential helpers', () => {
  it('credHelpers for the host, else credsStore; server address on stdin; not found = anonymous', async () => {
    const helper = installHelper('test');
    helper.seed({
      'reg.example': { Username: 'carol', Secret: 's3' },
      'https://index.docker.io/v1/': { Username: '<token>', Secret: 'idt' },
    });
    writeJson(dockerConfig(), {
      credHelpers: { 'reg.example': 'test' },
      credsStore: 'test',
      auths: { 'reg.example': { auth: b64('ignored:x') } },
    });
    const store = createCredentialStore({ env: { ...env } });
    const saved = process.env.PATH;
    process.env.PATH = env.PATH;
    try {
      expect(await store.get('reg.example')).toStrictEqual({ username: 'carol', password: 's3' });
      expect(await store.get('registry-1.docker.io')).toStrictEqual({ identityToken: 'idt' });
      expect(await store.get('nothing.example')).toBeUndefined();
      expect(helper.log()).toBe('get reg.example\nget https://index.docker.io/v1/\nget nothing.example\n');
    } finally {
      process.env.PATH = saved;
    }
  });

  it('a missing helper is CREDENTIAL_HELPER_MISSING; a failing one CREDENTIAL_HELPER_FAILED', async () => {
    writeJson(dockerConfig(), { credsStore: 'absent-kart-test' });
    const e = (await createCredentialStore({ env })
      .get('a.example')
      .catch((x: unknown) => x)) as KartError;
    expect([e.code, e.message]).toStrictEqual([
      'CREDENTIAL_HELPER_MISSING',
      'credential helper docker-credential-absent-kart-test is not on PATH',
    ]);
    const program = join(dir, 'bin', 'docker-credential-broken');
    writeFileSync(program, '#!/bin/sh\necho "keychain locked"\nexit 3\n');
    chmodSync(program, 0o755);
    writeJson(dockerConfig(), { credsStore: 'broken' });
    const saved = process.env.PATH;
    process.env.PATH = env.PATH;
    try {
      const f = (await createCredentialStore({ env })
        .get('a.example')
        .catch((x: unknown) => x)) as KartError;
      expect([f.code, f.message]).toStrictEqual([
        'CREDENTIAL_HELPER_FAILED',
        'credential helper docker-credential-broken get failed (exit 3): keychain locked',
      ]);
    } finally {
      process.env.PATH = saved;
    }
  });

  it('store and erase go through the helper when one is configured', async () => {
    const helper = installHelper('test');
    writeJson(dockerConfig(), { credsStore: 'test' });
    const saved = process.env.PATH;
    process.env.PATH = env.PATH;
    try {
      const store = createCredentialStore({ env });
      expect(await store.store('reg.example', { username: 'dave', password: 'pw' })).toStrictEqual({
        kind: 'helper',
        where: 'docker-credential-test',
      });
      expect(helper.state()).toStrictEqual({ 'reg.example': { Username: 'dave', Secret: 'pw' } });
      expect(await store.erase('reg.example')).toStrictEqual({
        kind: 'helper',
        where: 'docker-credential-test',
        removed: true,
      });
      expect(helper.state()).toStrictEqual({});
      expect(await store.erase('reg.example')).toStrictEqual({
        kind: 'helper',
        where: 'docker-credential-test',
        removed: false,
      });
      expect(JSON.parse(readFileSync(dockerConfig(), 'utf8'))).toStrictEqual({ credsStore: 'test' });
    } finally {
      process.env.PATH = saved;
    }
  });
});

describe('writing auth files', () => {
  it('keeps unknown fields, replaces legacy keys, writes 0600 atomically', async () => {
    writeJson(dockerConfig(), {
      auths: { 'https://reg.example/v1/': { auth: b64('old:old') }, 'keep.example': { auth: b64('k:k') } },
      proxies: { default: { httpProxy: 'http://p:3128' } },
      currentContext: 'desktop-linux',
    });
    const store = createCredentialStore({ env });
    expect(await store.store('reg.example', { username: 'erin', password: 'new' })).toStrictEqual({
      kind: 'file',
      where: dockerConfig(),
    });
    expect(JSON.parse(readFileSync(dockerConfig(), 'utf8'))).toStrictEqual({
      auths: { 'keep.example': { auth: b64('k:k') }, 'reg.example': { auth: b64('erin:new') } },
      proxies: { default: { httpProxy: 'http://p:3128' } },
      currentContext: 'desktop-linux',
    });
    expect(statSync(dockerConfig()).mode & 0o777).toBe(0o600);
    expect(await store.erase('reg.example')).toStrictEqual({
      kind: 'file',
      where: dockerConfig(),
      removed: true,
    });
    expect(JSON.parse(readFileSync(dockerConfig(), 'utf8')).auths).toStrictEqual({
      'keep.example': { auth: b64('k:k') },
    });
  });

  it('creates the file (and directory) when missing; Docker Hub goes under https://index.docker.io/v1/', async () => {
    const authFile = join(dir, 'new', 'auth.json');
    const store = createCredentialStore({ env, authFile });
    await store.store('docker.io', { username: 'h', password: 'p' });
    expect(JSON.parse(readFileSync(authFile, 'utf8'))).toStrictEqual({
      auths: { 'https://index.docker.io/v1/': { auth: b64('h:p') } },
    });
    expect(await store.erase('other.example')).toStrictEqual({
      kind: 'file',
      where: authFile,
      removed: false,
    });
  });

  it('an unreadable-as-JSON file is not overwritten', async () => {
    writeFileSync(dockerConfig(), 'garbage');
    const e = (await createCredentialStore({ env })
      .store('a.example', { username: 'u', password: 'p' })
      .catch((x: unknown) => x)) as KartError;
    expect(e.code).toBe('CREDENTIALS_FILE_INVALID');
    expect(readFileSync(dockerConfig(), 'utf8')).toBe('garbage');
  });
});
