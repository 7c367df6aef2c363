/**
 * A real kernel artifact (the Debian cloud kernel packed into a layout) pushed with `kart push` to, and
 * pulled back with `kart pull` from, registries that demand credentials: htpasswd Basic auth, and
 * distribution's `token` auth, where the registry verifies the JWTs the test's token endpoint signs and
 * enforces the scopes kart asked for. Credentials come from DOCKER_CONFIG (push) and
 * REGISTRY_AUTH_FILE (pull), as docker and skopeo write them. Every digest of the pulled graph is
 * checked; the token endpoint's requests are counted (one per scope set: a push asks pull,push up
 * front); bad credentials fail with the documented code, exit 3, and the password in no output.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { packKernel } from '../../../src/kernel/artifact/index.ts';
import { openLayout } from '../../../src/oci/layout.ts';
import { debianKernelPaths } from '../../support/debian-kernels.ts';
import { runKart } from '../../support/kart-cli.ts';
import { startAuthRegistry, type AuthRegistry, type TestUsers } from '../../support/registry-auth.ts';
import { layoutGraph, type GraphNode } from '../layout-graph.ts';

const PASSWORD = 'Round-trip-Pa55-never-shown';
const WRONG = `wrong-${PASSWORD}`;
const USERS: TestUsers = {
  alice: {
    password: PASSWORD,
    access: { 'acme/k': ['pull', 'push'], 'acme/k2': ['pull', 'push'] },
  },
};
const b64 = (text: string) => Buffer.from(text).toString('base64');

let work: string;
let source: string;
let graph: GraphNode[];

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'kart-auth-round-trip-'));
  source = join(work, 'packed');
  const debian = debianKernelPaths('cloud-amd64');
  await packKernel(
    { kernel: debian.vmlinuz, config: debian.config, flavor: 'zone', noCheck: true, tags: ['6.1'] },
    await openLayout(source, { create: true }),
  );
  graph = layoutGraph(source, '6.1');
});
afterAll(() => {
  if (work) rmSync(work, { recursive: true, force: true });
});

/** A credentials file as docker (config.json) and skopeo (auth.json) write it. */
function credentialsFile(path: string, host: string, password: string): string {
  mkdirSync(join(path, '..'), { recursive: true });
  writeFileSync(path, JSON.stringify({ auths: { [host]: { auth: b64(`alice:${password}`) } } }));
  return path;
}

describe.each(['htpasswd', 'token'] as const)('a kernel round trip through a %s registry', (mode) => {
  let auth: AuthRegistry;
  let dockerConfig: string;
  let authFile: string;
  beforeAll(async () => {
    auth = await startAuthRegistry(mode, USERS);
    dockerConfig = join(work, mode, 'docker');
    credentialsFile(join(dockerConfig, 'config.json'), auth.registry.host, PASSWORD);
    authFile = credentialsFile(join(work, mode, 'containers', 'auth.json'), auth.registry.host, PASSWORD);
  });
  afterAll(async () => auth?.stop());

  /** kart with credentials from exactly one place: docker's config dir or a containers auth file. */
  const kart = (credentials: { DOCKER_CONFIG: string } | { REGISTRY_AUTH_FILE: string }, args: string[]) =>
    runKart(args, {
      env: {
        ...process.env,
        HOME: join(work, 'home'),
        XDG_RUNTIME_DIR: '',
        DOCKER_CONFIG: join(work, 'no-docker-config'),
        REGISTRY_AUTH_FILE: '',
        ...credentials,
      },
    });
  const tokenRequests = () => auth.tokenServer?.requests ?? [];
  /** The scope sets asked for since `from`, with how often each was asked. */
  const scopeSets = (from: number) => {
    const counts: Record<string, number> = {};
    for (const request of tokenRequests().slice(from)) {
      const key = [...request.scopes].sort().join(' ');
      counts[key] = (counts[key] ?? 0) + 1;
    }
    return counts;
  };
  const root = () => graph[0]!;

  it('kart push with DOCKER_CONFIG credentials uploads every blob (token: one pull,push token)', async () => {
    const before = tokenRequests().length;
    const push = await kart({ DOCKER_CONFIG: dockerConfig }, [
      'push',
      '--json',
      `oci:${source}:6.1`,
      `${auth.registry.host}/acme/k:6.1`,
    ]);
    expect(push.stderr).toBe('');
    expect(push.code).toBe(0);
    expect(JSON.parse(push.stdout)).toMatchObject({
      digest: root().digest,
      mediaType: root().mediaType,
      size: root().size,
      tag: '6.1',
      copied: graph.length,
      skipped: 0,
      mounted: 0,
      bytes: graph.reduce((sum, node) => sum + node.size, 0),
    });
    if (mode === 'token') {
      // Reads (HEAD) and writes (POST, PUT) share one token: pull,push asked from the first request.
      expect(scopeSets(before)).toStrictEqual({ 'repository:acme/k:pull,push': 1 });
      expect(
        tokenRequests()
          .slice(before)
          .map((r) => [r.user, r.authorized]),
      ).toStrictEqual([['alice', true]]);
    }
  });

  it('kart pull with REGISTRY_AUTH_FILE credentials brings every byte back (token: one pull token)', async () => {
    const before = tokenRequests().length;
    const dir = join(work, mode, 'pulled');
    const pull = await kart({ REGISTRY_AUTH_FILE: authFile }, [
      'pull',
      `${auth.registry.host}/acme/k:6.1`,
      `oci:${dir}:6.1`,
    ]);
    expect(pull).toStrictEqual({ code: 0, stdout: `${root().digest} 6.1\n`, stderr: '' });
    // The same graph, every blob present and hashing to its digest.
    expect(layoutGraph(dir, '6.1')).toStrictEqual(graph);
    if (mode === 'token') expect(scopeSets(before)).toStrictEqual({ 'repository:acme/k:pull': 1 });
  });

  it('bad credentials: push and pull fail with the documented code, exit 3, and no secret in any output', async () => {
    const badConfig = join(work, mode, 'bad-docker');
    credentialsFile(join(badConfig, 'config.json'), auth.registry.host, WRONG);
    const badAuthFile = credentialsFile(join(work, mode, 'bad-auth.json'), auth.registry.host, WRONG);
    const code = mode === 'htpasswd' ? 'UNAUTHORIZED' : 'AUTH_DENIED';
    const runs = [
      await kart({ DOCKER_CONFIG: badConfig }, [
        'push',
        `oci:${source}:6.1`,
        `${auth.registry.host}/acme/k:bad`,
      ]),
      await kart({ REGISTRY_AUTH_FILE: badAuthFile }, [
        'pull',
        `${auth.registry.host}/acme/k:6.1`,
        `oci:${join(work, mode, 'bad-pull')}:6.1`,
      ]),
      await kart({ DOCKER_CONFIG: badConfig }, [
        'push',
        '--json',
        `oci:${source}:6.1`,
        `${auth.registry.host}/acme/k:bad`,
      ]),
      await kart({ REGISTRY_AUTH_FILE: badAuthFile }, [
        'pull',
        '--json',
        `${auth.registry.host}/acme/k:6.1`,
        `oci:${join(work, mode, 'bad-pull')}:6.1`,
      ]),
    ];
    for (const run of runs) expect(run.code).toBe(3);
    const [push, pull, pushJson, pullJson] = runs;
    if (mode === 'htpasswd') {
      expect(push!.stderr).toBe(
        `kart: error: manifest ${auth.registry.host}/acme/k:bad: the registry ${auth.registry.host} refused the credentials (UNAUTHORIZED: authentication required)\n` +
          `kart: hint: log in with "kart login ${auth.registry.host}" or check the credentials configured for it\n`,
      );
    } else {
      expect(push!.stderr).toBe(
        `kart: error: registry ${auth.registry.host}: the token service ${auth.tokenServer!.realm} refused the credentials of user "alice" (HTTP 401)\n` +
          `kart: hint: check the user name and password; run \`kart login ${auth.registry.host}\` again\n`,
      );
    }
    expect(pull!.stderr.split('\n')[0]).toMatch(/refused the credentials/);
    expect(JSON.parse(pushJson!.stdout).error.code).toBe(code);
    expect(JSON.parse(pullJson!.stdout).error.code).toBe(code);
    for (const run of runs) {
      for (const output of [run.stdout, run.stderr]) {
        expect(output).not.toContain(WRONG);
        expect(output).not.toContain(b64(`alice:${WRONG}`));
      }
    }
  });

  if (mode !== 'token') return;
  it('copying to a second repository mounts every blob; the mount token carries the source pull scope', async () => {
    const before = tokenRequests().length;
    const copy = await kart({ DOCKER_CONFIG: dockerConfig }, [
      'copy',
      '--json',
      `${auth.registry.host}/acme/k:6.1`,
      `${auth.registry.host}/acme/k2:6.1`,
    ]);
    expect(copy.stderr).toBe('');
    expect(copy.code).toBe(0);
    const manifests = graph.filter((node) => /manifest|index/.test(node.mediaType));
    // Blobs are mounted, not sent: only the manifests' bytes go over the wire.
    expect(JSON.parse(copy.stdout)).toMatchObject({
      digest: root().digest,
      copied: manifests.length,
      mounted: graph.length - manifests.length,
      bytes: manifests.reduce((sum, node) => sum + node.size, 0),
    });
    // The source end reads with pull; the destination asks pull,push on acme/k2 and pull on the mount
    // source acme/k in one token, which the registry requires for `?mount=&from=acme/k`.
    expect(scopeSets(before)).toStrictEqual({
      'repository:acme/k:pull': 1,
      'repository:acme/k2:pull,push repository:acme/k:pull': 1,
    });
    const dir = join(work, mode, 'pulled-k2');
    const pull = await kart({ REGISTRY_AUTH_FILE: authFile }, [
      'pull',
      `${auth.registry.host}/acme/k2:6.1`,
      `oci:${dir}:6.1`,
    ]);
    expect(pull.code).toBe(0);
    expect(layoutGraph(dir, '6.1')).toStrictEqual(graph);
  });
});
