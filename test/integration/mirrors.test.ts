/**
 * Pulls through mirrors, with real parts: Debian's docker-registry as the upstream and a second one in
 * `proxy:` mode as a site's pull-through cache, both keeping distribution's own access log; `kart pull -k`
 * run as processes (20 at once, as 20 hosts, each with its own cache). A scripted mirror in front of
 * the upstream plays what no real registry does on purpose: a different manifest, a corrupted blob,
 * a blob cut off half-way.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openLayout, type OciLayout } from '../../src/oci/layout.ts';
import type { Descriptor } from '../../src/oci/schema.ts';
import { copyReference } from '../../src/registry/index.ts';
import { expectedFiles, storeKernelTag } from '../kernel/pull/kernel-shapes.ts';
import { runKart, type KartRun } from '../support/kart-cli.ts';
import { startRegistry, type AccessLogEntry, type TestRegistry } from '../support/registry.ts';
import { startScriptedServer, type RecordedRequest } from '../support/scripted-server.ts';

const RELEASE = '6.1.99-fleet';
let upstream: TestRegistry;
let site: TestRegistry;
let work: string;
let layout: OciLayout;
let ref: string;
let root: Descriptor;

/** A registries.conf naming the upstream with these mirror tables. */
function registriesConf(name: string, mirrors: string[][]): string {
  const path = join(work, `${name}.conf`);
  writeFileSync(
    path,
    [
      'unqualified-search-registries = []',
      '',
      '[[registry]]',
      `prefix = "${upstream.host}"`,
      `location = "${upstream.host}"`,
      ...mirrors.flatMap((lines) => ['', '[[registry.mirror]]', ...lines]),
      '',
    ].join('\n'),
  );
  return path;
}

let runs = 0;
function pullK(conf: string, ...extra: string[]): Promise<KartRun & { dest: string }> {
  const n = runs++;
  return runKart([
    'pull',
    '-k',
    ref,
    '--dest',
    join(work, `dest-${n}`),
    '--cache',
    join(work, `cache-${n}`),
    '--arch',
    'amd64',
    '--registries-conf',
    conf,
    ...(extra.includes('--text') ? [] : ['--json']),
    ...extra.filter((arg) => arg !== '--text'),
  ]).then((run) => ({ ...run, dest: join(work, `dest-${n}`) }));
}

function expectInstalled(run: KartRun & { dest?: string }): void {
  expect({ code: run.code, output: run.code === 0 ? '' : run.stdout + run.stderr }).toEqual({
    code: 0,
    output: '',
  });
  const want = expectedFiles('amd64', 'kart', RELEASE);
  for (const name of ['kernel', 'config', 'metadata']) {
    expect({ name, same: readFileSync(join(run.dest!, name)).equals(want[name]!) }).toEqual({
      name,
      same: true,
    });
  }
}

/** Blob and manifest requests by digest in an access log (GETs, or those of `methods`), counted per path. */
function contentGets(log: AccessLogEntry[], methods = ['GET']): Map<string, number> {
  const counts = new Map<string, number>();
  for (const entry of log) {
    if (!methods.includes(entry.method) || !/\/(blobs|manifests)\/sha256:/.test(entry.path)) continue;
    counts.set(entry.path, (counts.get(entry.path) ?? 0) + 1);
  }
  return counts;
}

/**
 * Waits until the site cache has linked every piece (upstream paths `/v2/REPO/blobs|manifests/DIGEST`)
 * in its repository's storage, where it serves them from, and the upstream's log stopped growing.
 */
async function cacheHolds(paths: string[]): Promise<void> {
  const repositories = join(site.storageDir, 'docker/registry/v2/repositories');
  const links = paths.map((path) => {
    const [, repo, kind, digest] = /^\/v2\/(.+)\/(blobs|manifests)\/sha256:([0-9a-f]+)$/.exec(path)!;
    const dir = kind === 'blobs' ? '_layers' : '_manifests/revisions';
    return join(repositories, repo!, dir, 'sha256', digest!, 'link');
  });
  let logged = -1;
  for (let waited = 0; waited < 60_000; waited += 250) {
    const now = upstream.accessLog().length;
    if (now === logged && links.every((link) => existsSync(link))) return;
    logged = now;
    await new Promise((done) => setTimeout(done, 250));
  }
  throw new Error(`the site cache did not store ${links.filter((link) => !existsSync(link)).join(', ')}`);
}

beforeAll(async () => {
  upstream = await startRegistry({ accessLog: true });
  site = await startRegistry({ proxy: upstream.url, accessLog: true });
  work = mkdtempSync(join(tmpdir(), 'kart-mirrors-'));
  layout = await openLayout(join(work, 'layout'), { create: true });
  root = await storeKernelTag(layout, 'fleet', { release: RELEASE });
  ref = `${upstream.host}/fleet/kernel:6.1`;
  await copyReference(`oci:${layout.root}:fleet`, ref, { plainHttp: true });
});
afterAll(async () => {
  await site?.stop();
  await upstream?.stop();
  rmSync(work, { recursive: true, force: true });
});

describe('a fleet pulling through a site cache (distribution proxy mode)', () => {
  it('20 cold hosts at once: the same bytes, all from the site cache, kart asking the upstream for the tag only; 20 more on the warm cache cost the upstream no content at all', async () => {
    const conf = registriesConf('fleet', [[`location = "${site.host}"`]]);
    const cacheRepo = `${site.host}/fleet/kernel`;
    const before = {
      upstream: (await upstream.settledAccessLog()).length,
      site: (await site.settledAccessLog()).length,
    };
    const cold = await Promise.all(Array.from({ length: 20 }, () => pullK(conf)));
    for (const run of cold) expectInstalled(run);
    for (const run of cold) {
      const result = JSON.parse(run.stdout);
      expect(result.digest).toBe(root.digest);
      // No source was left (a failure here says why the cache was), and so index, amd64 manifest,
      // config and layers all came from the site cache.
      expect(result.sources).toEqual({ skippedSources: [] });
      expect(result.blobs.map((blob: { source: string }) => blob.source)).toEqual(
        Array(result.blobs.length).fill(cacheRepo),
      );
    }
    const pieces = JSON.parse(cold[0]!.stdout).blobs.length as number;
    const coldLog = (await upstream.settledAccessLog()).slice(before.upstream);
    // What kart's 20 hosts asked of the upstream: the tag (digest pinning), once each, nothing else.
    expect(
      coldLog.filter((e) => e.userAgent.startsWith('kart/')).map((e) => `${e.method} ${e.path}`),
    ).toEqual(Array(20).fill('HEAD /v2/fleet/kernel/manifests/6.1'));
    // What they asked of the site cache: each piece of content once per host (not counting a passing
    // 5xx or 429 the cache answered under the cold start, which a mirror gets one quick retry of).
    const siteLog = (await site.settledAccessLog()).slice(before.site);
    const siteGets = contentGets(
      siteLog.filter((entry) => entry.status < 500 && entry.status !== 429),
      ['GET', 'HEAD'],
    );
    expect([...siteGets.values()]).toEqual(Array(pieces).fill(20));
    // Everything else at the upstream is the cache fetching, by distribution 2.8's rules: a blob it
    // lacks is fetched twice for the request that finds it missing (once to store, once to stream)
    // and once for each request arriving before the store is done, none waiting for another's copy;
    // a manifest once per request. So every piece reached the upstream at least once and at most
    // twice per request the cache received: the cache's cost, none of it kart's.
    const coldGets = contentGets(coldLog);
    expect(coldGets.size).toBe(pieces);
    for (const [path, count] of coldGets) {
      expect({ path, bounded: count >= 1 && count <= 2 * siteGets.get(path)! }).toEqual({
        path,
        bounded: true,
      });
    }

    // Warm (the same as after the one warming pull the README asks of each site after a publish):
    // 20 hosts at once, the upstream answers the 20 tag HEADs and sends no manifest or blob. The
    // cache goes on storing in the background after it has answered, so the warm hosts start once
    // every piece is in its storage and the upstream's log has gone quiet.
    await cacheHolds([...coldGets.keys()]);
    const warmBefore = (await upstream.settledAccessLog()).length;
    const warm = await Promise.all(Array.from({ length: 20 }, () => pullK(conf)));
    for (const run of warm) expectInstalled(run);
    const warmLog = (await upstream.settledAccessLog()).slice(warmBefore);
    expect(contentGets(warmLog).size).toBe(0);
    expect(warmLog.filter((e) => e.method === 'GET')).toEqual([]);
    expect(warmLog.map((e) => `${e.method} ${e.path}`)).toEqual(
      Array(20).fill('HEAD /v2/fleet/kernel/manifests/6.1'),
    );
  }, 300_000);

  it('the site cache stopped: the pull falls back to the upstream and says which source served what', async () => {
    const conf = registriesConf('fallback', [[`location = "${site.host}"`]]);
    await site.pause();
    try {
      const run = await pullK(conf);
      expect(run.code).toBe(0);
      expectInstalled({ ...run, stderr: '' });
      expect(run.stderr).toContain(`kart: skipping ${site.host}/fleet/kernel for the rest of this pull`);
      const result = JSON.parse(run.stdout);
      expect(new Set(result.blobs.map((blob: { source: string }) => blob.source))).toEqual(
        new Set([`${upstream.host}/fleet/kernel`]),
      );
      expect(result.sources.skippedSources).toEqual([
        expect.objectContaining({ source: `${site.host}/fleet/kernel`, code: 'CONNECTION_REFUSED' }),
      ]);
    } finally {
      await site.resume();
    }
  });

  it('the upstream stopped, the cache warm: digest-only refuses to trust the cache for the tag; a policy allowing it succeeds and says so', async () => {
    const pinned = registriesConf('pinned', [[`location = "${site.host}"`]]);
    const allowing = registriesConf('allowing', [[`location = "${site.host}"`, 'pull-from-mirror = "all"']]);
    // A mirror allowed to answer for tags is asked for the tag alongside the upstream, so the site
    // cache (which learns a tag only when asked) knows it on the day the upstream is down.
    expectInstalled(await pullK(allowing));
    await upstream.pause();
    try {
      const refused = await pullK(pinned);
      expect(refused.code).toBe(3);
      const error = JSON.parse(refused.stdout).error;
      expect(error.code).toBe('UPSTREAM_UNREACHABLE');
      expect(error.message).toContain(`cannot resolve ${upstream.host}/fleet/kernel:6.1`);
      expect(error.message).toContain('no mirror is allowed to say what a tag names');

      const allowed = await pullK(allowing);
      expectInstalled(allowed);
      const result = JSON.parse(allowed.stdout);
      expect(result.digest).toBe(root.digest);
      expect(result.sources.tagResolution).toMatchObject({ tag: '6.1', source: `${site.host}/fleet/kernel` });
      const text = await pullK(allowing, '--text');
      expect(text.code).toBe(0);
      expect(text.stdout).toContain(
        `tag 6.1 resolved at the mirror ${site.host}/fleet/kernel, not the upstream`,
      );
    } finally {
      await upstream.resume();
    }
  });
});

describe('--mirror on the other pulling commands; pushes go to the upstream only', () => {
  it('kart pull REF oci:DIR and kart inspect read through --mirror; kart copy to the upstream never touches the mirror', async () => {
    const siteBefore = (await site.settledAccessLog()).length;
    const upstreamBefore = (await upstream.settledAccessLog()).length;
    const out = join(work, 'copied');
    const pulled = await runKart(['pull', ref, `oci:${out}:6.1`, '--mirror', site.host, '--json']);
    expect({ code: pulled.code, stderr: pulled.stderr }).toEqual({ code: 0, stderr: '' });
    expect(JSON.parse(pulled.stdout).digest).toBe(root.digest);
    const inspected = await runKart(['inspect', ref, '--mirror', site.host, '--json']);
    expect({ code: inspected.code, stderr: inspected.stderr }).toEqual({ code: 0, stderr: '' });
    expect(JSON.parse(inspected.stdout).root.digest).toBe(root.digest);
    // The site cache served the content (fetching what it lacked, the arm64 image, itself); kart
    // asked the upstream for nothing but the tag, once per command.
    expect(contentGets((await site.settledAccessLog()).slice(siteBefore)).size).toBeGreaterThan(0);
    const byKart = (await upstream.settledAccessLog())
      .slice(upstreamBefore)
      .filter((e) => e.userAgent.startsWith('kart/'));
    expect(byKart.map((e) => `${e.method} ${e.path}`)).toEqual(
      Array(2).fill('HEAD /v2/fleet/kernel/manifests/6.1'),
    );

    const siteBeforePush = (await site.settledAccessLog()).length;
    const pushed = await runKart([
      'copy',
      `oci:${out}:6.1`,
      `${upstream.host}/fleet/pushed:1`,
      '--mirror',
      site.host,
    ]);
    expect({ code: pushed.code, stderr: pushed.stderr }).toEqual({ code: 0, stderr: '' });
    expect((await site.settledAccessLog()).slice(siteBeforePush)).toEqual([]);
    expect(
      (await upstream.settledAccessLog()).some(
        (e) => e.method === 'PUT' && e.path === '/v2/fleet/pushed/manifests/1',
      ),
    ).toBe(true);
  });
});

type Misbehaviour = 'other-manifest' | 'corrupt-blobs' | 'cut-blobs';

/**
 * A mirror in front of the upstream that forwards every request to it, except what `misbehaviour`
 * changes: every manifest answered with another image's manifest, every blob with one byte flipped,
 * or every blob cut off after half its bytes (headers promising all of them).
 */
async function misbehavingMirror(misbehaviour: Misbehaviour) {
  const other = Buffer.from(
    JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json', manifests: [] }),
  );
  return startScriptedServer(async (req: RecordedRequest, res) => {
    const answer = await fetch(`${upstream.url}${req.path}`, {
      method: req.method,
      headers: {
        ...(req.headers.accept === undefined ? {} : { accept: String(req.headers.accept) }),
        ...(req.headers.range === undefined ? {} : { range: String(req.headers.range) }),
      },
    });
    let body = Buffer.from(await answer.arrayBuffer());
    const headers: Record<string, string> = {};
    for (const name of ['content-type', 'docker-content-digest', 'content-length', 'content-range']) {
      const value = answer.headers.get(name);
      if (value !== null) headers[name] = value;
    }
    const blob = /\/blobs\/sha256:/.test(req.path) && req.method === 'GET' && answer.status === 200;
    if (misbehaviour === 'other-manifest' && /\/manifests\//.test(req.path) && answer.status === 200) {
      body = other;
      headers['content-length'] = String(other.length);
      headers['docker-content-digest'] = sha256(other);
      headers['content-type'] = 'application/vnd.oci.image.index.v1+json';
    }
    if (misbehaviour === 'corrupt-blobs' && blob) {
      const middle = body.length >> 1;
      body = Buffer.from(body);
      body.writeUInt8(body.readUInt8(middle) ^ 0xff, middle);
    }
    res.writeHead(answer.status, headers);
    if (misbehaviour === 'cut-blobs' && blob) {
      res.write(body.subarray(0, body.length >> 1));
      // Let the half reach kart before the connection dies.
      await new Promise((done) => setTimeout(done, 50));
      res.destroy();
      return;
    }
    res.end(req.method === 'HEAD' ? undefined : body);
  });
}

function sha256(bytes: Buffer): string {
  return `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
}

describe('a mirror that misbehaves is left for the next source, and the install is still right', () => {
  async function pullThrough(misbehaviour: Misbehaviour) {
    const mirror = await misbehavingMirror(misbehaviour);
    try {
      const conf = registriesConf(misbehaviour, [[`location = "${mirror.host}"`]]);
      const before = (await upstream.settledAccessLog()).length;
      const run = await pullK(conf);
      expect(run.code).toBe(0);
      expectInstalled({ ...run, stderr: '' });
      const result = JSON.parse(run.stdout);
      const sources = Object.fromEntries(
        result.blobs.map((blob: { mediaType: string; source: string }) => [blob.mediaType, blob.source]),
      );
      return { run, result, sources, mirror, upstreamLog: (await upstream.settledAccessLog()).slice(before) };
    } finally {
      await mirror.stop();
    }
  }

  it('a different manifest: refused (its digest is not the one the upstream named), everything from the upstream', async () => {
    const { run, result, mirror } = await pullThrough('other-manifest');
    const mirrorRepo = `${mirror.host}/fleet/kernel`;
    expect(result.digest).toBe(root.digest);
    // The tag was never asked of the mirror: the upstream says what it names.
    expect(mirror.requests.filter((r) => r.path.endsWith('/manifests/6.1'))).toEqual([]);
    expect(result.sources.skippedSources).toEqual([
      expect.objectContaining({ source: mirrorRepo, code: 'DIGEST_MISMATCH' }),
    ]);
    expect(run.stderr).toContain(`kart: skipping ${mirrorRepo} for the rest of this pull`);
    expect(new Set(result.blobs.map((blob: { source: string }) => blob.source))).toEqual(
      new Set([`${upstream.host}/fleet/kernel`]),
    );
  });

  it('a corrupted blob: rejected after its last byte, fetched again from the upstream', async () => {
    const { result, mirror } = await pullThrough('corrupt-blobs');
    const mirrorRepo = `${mirror.host}/fleet/kernel`;
    const upstreamRepo = `${upstream.host}/fleet/kernel`;
    expect(result.sources.skippedSources).toEqual([
      expect.objectContaining({ source: mirrorRepo, code: 'DIGEST_MISMATCH' }),
    ]);
    for (const blob of result.blobs as { mediaType: string; source: string }[]) {
      // Manifests came whole and verified from the mirror; every blob from the upstream.
      const manifest = /manifest|index/.test(blob.mediaType);
      expect({ type: blob.mediaType, source: blob.source }).toEqual({
        type: blob.mediaType,
        source: manifest ? mirrorRepo : upstreamRepo,
      });
    }
  });

  it('a blob cut off half-way: the upstream carries it on from the byte it stopped at (Range, 206)', async () => {
    const { result, mirror, upstreamLog } = await pullThrough('cut-blobs');
    const mirrorRepo = `${mirror.host}/fleet/kernel`;
    const upstreamRepo = `${upstream.host}/fleet/kernel`;
    const blobs = (result.blobs as { mediaType: string; source: string }[]).filter(
      (blob) => !/manifest|index/.test(blob.mediaType),
    );
    // The first blob was carried on from the upstream; the mirror was then left for the rest.
    expect(blobs[0]?.source).toBe(`${mirrorRepo} + ${upstreamRepo}`);
    for (const blob of blobs.slice(1)) expect(blob.source).toBe(upstreamRepo);
    const ranged = upstreamLog.filter((e) => e.method === 'GET' && e.status === 206);
    expect(ranged).toHaveLength(1);
    expect(result.sources.skippedSources).toEqual([expect.objectContaining({ source: mirrorRepo })]);
  });
});
