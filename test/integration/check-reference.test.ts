/**
 * `kart check REF` and `kart audit REPO` against the real registry (counted by the proxy): a published
 * Debian kernel is checked through its config layer alone, with the same report as `kart check` of the
 * local config; an image whose kernel/metadata names another config fails; an audit of 30 tags (shared
 * digests, some failing, one lying) lists each tag once and downloads each distinct config once.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { packKernel, type PackKernelResult } from '../../src/kernel/artifact/index.ts';
import { MediaType, type Descriptor } from '../../src/oci/index.ts';
import { openLayout, type OciLayout } from '../../src/oci/layout.ts';
import { descriptorOf, fetchBytes, pushBytes } from '../../src/oci/manifest-io.ts';
import { copyReference } from '../../src/registry/index.ts';
import { debianKernelPaths } from '../support/debian-kernels.ts';
import { runKart } from '../support/kart-cli.ts';
import { startRegistry, type TestRegistry } from '../support/registry.ts';
import { makeBzImage } from '../support/synthetic-kernels.ts';

let registry: TestRegistry;
let work: string;
let layout: OciLayout;
let debian: PackKernelResult;

function write(name: string, text: string): string {
  const path = join(work, name);
  writeFileSync(path, text);
  return path;
}

/** The blob paths fetched since `from` in the proxy's log. */
function blobGets(from: number): string[] {
  return (registry.requestLog ?? [])
    .slice(from)
    .filter((request) => request.method === 'GET' && request.path.includes('/blobs/'))
    .map((request) => request.path.replace(/^.*\/blobs\//, ''));
}

function layerOf(result: PackKernelResult, path: string): Descriptor {
  const file = result.files.find((candidate) => candidate.path === path);
  if (file === undefined) throw new Error(`${path} was not packed`);
  return file.layer;
}

/**
 * `honest`'s manifest claiming `other`'s config, tagged as a bare manifest: it lies. `metadata`: with
 * `other`'s kernel/metadata layer and without the dev.edera.kernel.config annotation (an image from
 * before the annotation, or another producer); `annotation`: that annotation naming `other`'s config.
 */
async function storeLiar(
  store: OciLayout,
  honest: PackKernelResult,
  other: PackKernelResult,
  tag: string,
  how: 'metadata' | 'annotation' = 'metadata',
): Promise<Descriptor> {
  const manifest = JSON.parse((await fetchBytes(store, honest.manifest)).toString('utf8'));
  if (how === 'metadata') {
    manifest.layers = manifest.layers.map((layer: Descriptor) =>
      layer.digest === layerOf(honest, 'kernel/metadata').digest ? layerOf(other, 'kernel/metadata') : layer,
    );
    delete manifest.annotations[CONFIG_ANNOTATION];
  } else {
    manifest.annotations[CONFIG_ANNOTATION] = other.metadata.configDigest;
  }
  const bytes = Buffer.from(JSON.stringify(manifest));
  const liar = descriptorOf(bytes, MediaType.OciManifest);
  await pushBytes(store, liar, bytes);
  await store.tag(liar, tag);
  return liar;
}

const CONFIG_ANNOTATION = 'dev.edera.kernel.config';

beforeAll(async () => {
  registry = await startRegistry({ countRequests: true });
  work = mkdtempSync(join(tmpdir(), 'kart-check-ref-'));
  layout = await openLayout(join(work, 'layout'), { create: true });
  const kernel = debianKernelPaths('cloud-amd64');
  debian = await packKernel(
    { kernel: kernel.vmlinuz, config: kernel.config, flavor: 'zone', noCheck: true, tags: ['6.1'] },
    layout,
  );
  await copyReference(`oci:${layout.root}:6.1`, `${registry.host}/zone-kernel:6.1`, { plainHttp: true });
});
afterAll(async () => {
  await registry?.stop();
  rmSync(work, { recursive: true, force: true });
});

describe('kart check REF', () => {
  it('downloads exactly one blob, the config layer, and reports what kart check of the config does', async () => {
    const ref = `${registry.host}/zone-kernel:6.1`;
    const from = registry.requestLog?.length ?? 0;
    const run = await runKart(['check', '--flavor', 'zone', '--flavor', 'dm-verity', '--json', ref]);
    expect(run.stderr).toBe('');
    expect(run.code).toBe(1);
    // The kernel image layer (14 MB) is never fetched, nor the image config (the index names the
    // platform), nor kernel/metadata (the manifest's dev.edera.kernel.config says what it would).
    expect(blobGets(from)).toEqual([layerOf(debian, 'kernel/config.gz').digest]);
    const result = JSON.parse(run.stdout);
    const local = await runKart([
      'check',
      '--flavor',
      'zone',
      '--flavor',
      'dm-verity',
      '--json',
      debianKernelPaths('cloud-amd64').config,
    ]);
    expect(local.code).toBe(1);
    const expected = JSON.parse(local.stdout);
    const [platform] = result.platforms;
    expect(result.platforms).toHaveLength(1);
    const source = `${ref}@${debian.manifest.digest} (linux/amd64) kernel/config.gz`;
    // Same verdicts, same lines: only the config's name differs.
    expect(JSON.stringify(platform.report.flavors)).toBe(
      JSON.stringify(expected.flavors).replaceAll(debianKernelPaths('cloud-amd64').config, source),
    );
    expect(platform).toMatchObject({
      platform: 'linux/amd64',
      configFrom: 'kernel/config.gz',
      configLayer: layerOf(debian, 'kernel/config.gz').digest,
      configDigest: debian.metadata.configDigest,
      metadataConfigDigest: debian.metadata.configDigest,
      claimFrom: 'annotation',
      metadataMatches: true,
      ok: false,
    });
    expect(result.unchecked).toEqual([]);
    expect(result.digest).toBe(debian.indexes[0]?.index.digest);
  });

  it('names the reference and digest in the github and junit formats', async () => {
    const ref = `${registry.host}/zone-kernel:6.1`;
    const index = debian.indexes[0]?.index.digest;
    const github = await runKart(['check', '--flavor', 'dm-verity', '--format', 'github', ref]);
    expect(github.code).toBe(1);
    const line =
      readFileSync(debianKernelPaths('cloud-amd64').config, 'utf8')
        .split('\n')
        .indexOf('CONFIG_BLK_DEV_DM=m') + 1;
    expect(line).toBeGreaterThan(0);
    expect(github.stdout.split('\n')[0]).toBe(
      `::error file=flavors/dm-verity.ini,line=11,title=${ref.replaceAll(':', '%3A')}@sha256%3A${index?.slice(7)} linux/amd64%3A dm-verity%3A CONFIG_BLK_DEV_DM::CONFIG_BLK_DEV_DM requires y but is m (${ref}@${debian.manifest.digest} (linux/amd64) kernel/config.gz:${line}; required by flavors/dm-verity.ini:11)`,
    );
    const junit = await runKart(['check', '--flavor', 'dm-verity', '--format', 'junit', ref]);
    expect(junit.code).toBe(1);
    expect(junit.stdout).toContain(
      `<testsuite name="dm-verity (${ref}@${index} linux/amd64)" tests="5" failures="3" file="flavors/dm-verity.ini">`,
    );
    expect(junit.stdout).toContain(`<property name="digest" value="${index}"/>`);
    expect(junit.stdout).toContain(`<property name="manifest" value="${debian.manifest.digest}"/>`);
  });

  it('fails (exit 1) a tag whose annotation or (without one) kernel/metadata names another config: the artifact lies', async () => {
    const configA = write('a.config', '# a\nCONFIG_DEMO=y\n');
    const configB = write('b.config', '# b\nCONFIG_DEMO=y\nCONFIG_OTHER=y\n');
    const flavor = write('demo.ini', 'description = demo\n[require]\nCONFIG_DEMO = y\n');
    const kernel = join(work, 'bzImage');
    writeFileSync(kernel, makeBzImage('6.1.99-lie'));
    const a = await packKernel({ kernel, config: configA, flavor, tags: ['a'] }, layout);
    const b = await packKernel({ kernel, config: configB, flavor, tags: ['b'] }, layout);
    // A's image and config with B's metadata.
    const liar = await storeLiar(layout, a, b, 'liar');

    const honest = await runKart(['check', '--flavor', flavor, `oci:${layout.root}:a`]);
    expect(honest.code).toBe(0);
    const run = await runKart(['check', '--flavor', flavor, `oci:${layout.root}:liar`]);
    expect(run.code).toBe(1);
    expect(run.stdout).toContain(
      `  FAIL kernel/metadata says KERNEL_CONFIG=${b.metadata.configDigest}, but the config read (kernel/config.gz) is ${a.metadata.configDigest}: the image lies about its config\n`,
    );
    // The requirements themselves hold: the failure is the lie alone.
    expect(run.stdout).toContain(`demo (${flavor}): all 1 required met\n`);
    expect(run.stdout.trimEnd().split('\n').at(-1)).toBe(
      `FAILED: oci:${layout.root}:liar@${liar.digest}: 1 of 1 platform failed`,
    );

    const annotated = await storeLiar(layout, a, b, 'annotated-liar', 'annotation');
    const lies = await runKart(['check', '--flavor', flavor, `oci:${layout.root}:annotated-liar`]);
    expect(lies.code).toBe(1);
    expect(lies.stdout).toContain(
      `  FAIL its manifest annotation dev.edera.kernel.config says ${b.metadata.configDigest}, but the config read (kernel/config.gz) is ${a.metadata.configDigest}: the image lies about its config\n`,
    );
    expect(lies.stdout.trimEnd().split('\n').at(-1)).toBe(
      `FAILED: oci:${layout.root}:annotated-liar@${annotated.digest}: 1 of 1 platform failed`,
    );
  });
});

describe('kart check REF --mirror', () => {
  it('reads the config layer from the mirror, asking the upstream only for the tag (audit too)', async () => {
    // A pull-through cache of the registry (distribution's proxy mode), as a site mirror is.
    const site = await startRegistry({ proxy: registry.url, accessLog: true });
    try {
      const ref = `${registry.host}/zone-kernel:6.1`;
      const from = registry.requestLog?.length ?? 0;
      const run = await runKart(['check', '--flavor', 'zone', '--json', ref, '--mirror', site.host]);
      // Debian's cloud config does not meet zone (exit 1), as without the mirror.
      expect({ code: run.code, stderr: run.stderr }).toEqual({ code: 1, stderr: '' });
      expect(JSON.parse(run.stdout).platforms[0].configDigest).toBe(debian.metadata.configDigest);
      const byKart = (await site.settledAccessLog()).filter((entry) => entry.userAgent.startsWith('kart/'));
      expect(byKart.filter((entry) => entry.method === 'GET' && entry.path.includes('/blobs/'))).toEqual([
        expect.objectContaining({
          path: `/v2/zone-kernel/blobs/${layerOf(debian, 'kernel/config.gz').digest}`,
          status: 200,
        }),
      ]);
      // Upstream: kart's HEAD of the tag; the only blob it sends is the config layer, to fill the
      // mirror's cache (distribution's proxy may fetch it more than once; its count is not kart's).
      const upstream = (registry.requestLog ?? []).slice(from);
      expect(upstream.filter((entry) => entry.method === 'HEAD').map((entry) => entry.path)).toContain(
        '/v2/zone-kernel/manifests/6.1',
      );
      expect([...new Set(blobGets(from))]).toEqual([layerOf(debian, 'kernel/config.gz').digest]);

      // kart audit takes --mirror too; which tags exist is still the upstream's word.
      const audit = await runKart([
        'audit',
        `${registry.host}/zone-kernel`,
        '--flavor',
        'zone',
        '--json',
        '--mirror',
        site.host,
      ]);
      expect({ code: audit.code, stderr: audit.stderr }).toEqual({ code: 1, stderr: '' });
      expect(JSON.parse(audit.stdout).rows.map((row: { tag: string }) => row.tag)).toEqual(['6.1']);
    } finally {
      await site.stop();
    }
  });
});

describe('kart audit REPO', () => {
  it('lists each of 30 tags once, checks each digest once, and downloads each distinct config once', async () => {
    const flavor = write('audit.ini', 'description = audit\n[require]\nCONFIG_DEMO = y\n');
    const kernel = join(work, 'audit-bzImage');
    writeFileSync(kernel, makeBzImage('6.1.99-audit'));
    const audit = await openLayout(join(work, 'audit-layout'), { create: true });
    const builds = [
      { name: 'pass-1', config: '# 1\nCONFIG_DEMO=y\n', count: 9, ok: true },
      { name: 'pass-2', config: '# 2\nCONFIG_DEMO=m\nCONFIG_X=y\n', count: 8, ok: false },
      { name: 'fail-1', config: '# 3\n# CONFIG_DEMO is not set\n', count: 7, ok: false },
      { name: 'pass-3', config: '# 4\nCONFIG_DEMO=y\nCONFIG_Y=y\n', count: 5, ok: true },
    ];
    const packed = new Map<string, PackKernelResult>();
    const expectedRows: { tag: string; result: string; failures: string[] }[] = [];
    for (const build of builds) {
      const tags = Array.from(
        { length: build.count },
        (_, i) => `${build.name}-t${String(i).padStart(2, '0')}`,
      );
      const config = write(`${build.name}.config`, build.config);
      packed.set(build.name, await packKernel({ kernel, config, flavor, noCheck: true, tags }, audit));
      for (const tag of tags) {
        expectedRows.push({
          tag,
          result: build.ok ? 'ok' : 'failed',
          failures: build.ok ? [] : ['audit: CONFIG_DEMO'],
        });
      }
    }
    // One more digest, sharing its config layer with pass-1 and its metadata layer with fail-1: it lies.
    await storeLiar(
      audit,
      packed.get('pass-1') as PackKernelResult,
      packed.get('fail-1') as PackKernelResult,
      'liar',
    );
    expectedRows.push({ tag: 'liar', result: 'lies', failures: ['KERNEL_CONFIG'] });
    expect(expectedRows).toHaveLength(30);
    const repo = `${registry.host}/audit/kernel`;
    for (const { tag } of expectedRows) {
      await copyReference(`oci:${audit.root}:${tag}`, `${repo}:${tag}`, { plainHttp: true });
    }

    const from = registry.requestLog?.length ?? 0;
    const run = await runKart(['audit', repo, '--flavor', flavor, '--json']);
    expect(run.stderr).toBe('');
    expect(run.code).toBe(1);
    const report = JSON.parse(run.stdout);
    expect(
      report.rows.map((row: { tag: string; result: string; failures: string[] }) => ({
        tag: row.tag,
        result: row.result,
        failures: row.failures,
      })),
    ).toEqual(expectedRows.sort((x, y) => (x.tag < y.tag ? -1 : 1)));
    expect(report.summary).toEqual({ tags: 30, digests: 5, rows: 30, failed: 16 });
    // Each distinct config layer fetched exactly once, and the one metadata layer the liar (which has
    // no dev.edera.kernel.config annotation) makes the check read; nothing else.
    const gets = blobGets(from);
    const expectedBlobs = [
      ...[...packed.values()].map((result) => layerOf(result, 'kernel/config.gz').digest),
      layerOf(packed.get('fail-1') as PackKernelResult, 'kernel/metadata').digest,
    ];
    expect(gets.sort()).toEqual(expectedBlobs.sort());
    // Each tag resolved once (HEAD), each distinct index and manifest read once.
    const log = (registry.requestLog ?? []).slice(from);
    expect(log.filter((request) => request.method === 'HEAD')).toHaveLength(30);
    expect(
      log.filter((request) => request.method === 'GET' && request.path.includes('/manifests/')),
    ).toHaveLength(9);

    const text = await runKart(['audit', repo, '--flavor', flavor]);
    expect(text.code).toBe(1);
    const lines = text.stdout.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^TAG +PLATFORM +DIGEST +RESULT +FAILURES$/);
    expect(lines).toHaveLength(32);
    expect(lines.at(-1)).toBe(`FAILED: 30 tags (5 distinct), 30 checked, 16 failed; ${repo}`);
    const failRow = lines.find((line) => line.startsWith('fail-1-t00 '));
    expect(failRow).toMatch(
      new RegExp(
        `^fail-1-t00 +linux/amd64 +${packed.get('fail-1')?.indexes[0]?.index.digest} +failed +audit: CONFIG_DEMO$`,
      ),
    );
  });
});
