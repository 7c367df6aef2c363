/**
 * kart publish against the real registry (distribution 2.8): the tag policy over a sequence of
 * versions, multi-arch merging (also from two concurrent processes), idempotency counted on the wire,
 * a changed config, the immutable tag, a dry run, and a build whose config fails its flavor.
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  publishKernel,
  type PublishKernelOptions,
  type PublishResult,
} from '../../src/kernel/publish/index.ts';
import type { Readable } from 'node:stream';
import { KartError } from '../../src/errors.ts';
import { MediaType, type Descriptor } from '../../src/oci/index.ts';
import { fetchManifest } from '../../src/oci/manifest-io.ts';
import { openReference } from '../../src/registry/index.ts';
import { overriding } from '../support/overriding.ts';
import { startRegistry, type TestRegistry } from '../support/registry.ts';
import {
  CHANGED_CONFIG,
  FAILING_CONFIG,
  PASSING_CONFIG,
  makeFixtureWorld,
  type FixtureWorld,
} from '../kernel/publish/publish-fixture.ts';

const run = promisify(execFile);
const KART = resolve(import.meta.dirname, '../../bin/kart.js');

let registry: TestRegistry;
let world: FixtureWorld;

beforeAll(async () => {
  registry = await startRegistry({ countRequests: true });
  world = makeFixtureWorld();
});
afterAll(async () => {
  await registry.stop();
});

const config12 = (config: string) => createHash('sha256').update(config).digest('hex').slice(0, 12);

function publish(
  repo: string,
  version: string,
  extra: Partial<PublishKernelOptions> & { arch?: 'amd64' | 'arm64'; config?: string; release?: string } = {},
): Promise<PublishResult> {
  const { config, release, ...rest } = extra;
  const buildDir = world.build({
    release: release ?? `${version}-test`,
    arch: extra.arch ?? 'amd64',
    ...(config === undefined ? {} : { config }),
  });
  return publishKernel({ buildDir, flavor: world.flavor, to: `${registry.host}/${repo}`, version, ...rest });
}

/** Every tag of the repository → the digest it names, read back from the registry. */
async function tagMap(repo: string): Promise<Record<string, string>> {
  const opened = await openReference(`${registry.host}/${repo}`);
  try {
    const target = opened.target as typeof opened.target & { tags(): AsyncIterable<string> };
    const map: Record<string, string> = {};
    for await (const tag of target.tags()) map[tag] = (await target.resolve(tag)).digest;
    return map;
  } finally {
    await opened.close();
  }
}

async function platformsOf(repo: string, tag: string): Promise<{ arch: string; digest: string }[]> {
  const opened = await openReference(`${registry.host}/${repo}`);
  try {
    const fetched = await fetchManifest(opened.target, await opened.target.resolve(tag));
    if (fetched.kind !== 'index') throw new Error(`${tag} is not an index`);
    return fetched.index.manifests.map((m) => ({ arch: m.platform?.architecture ?? '?', digest: m.digest }));
  } finally {
    await opened.close();
  }
}

const writes = () => (registry.requestLog ?? []).filter((r) => r.method !== 'GET' && r.method !== 'HEAD');

function blobFiles(): string[] {
  const dir = join(registry.storageDir, 'docker/registry/v2/blobs/sha256');
  try {
    return readdirSync(dir, { recursive: true }).map(String).sort();
  } catch {
    return [];
  }
}

describe('kart publish: the tag policy on a real registry', () => {
  it('6.1.10, 6.1.9, 6.2.1, 6.9.5, 6.10.0, then a prerelease: the tag → digest map after each step', async () => {
    const repo = 'policy/kernel';
    const c = config12(PASSING_CONFIG);
    const index = (r: PublishResult) => {
      const digests = new Set(r.tags.map((t) => t.next));
      expect(digests.size).toBe(1);
      return [...digests][0] as string;
    };
    const expected: Record<string, string> = {};
    const step = async (version: string, tags: string[]) => {
      const result = await publish(repo, version);
      expect(result.tags.map((t) => t.tag)).toEqual(tags);
      for (const tag of tags) expected[tag] = index(result);
      expect(await tagMap(repo)).toEqual(expected);
    };
    await step('6.1.10', ['6.1.10', '6.1', '6', 'latest', `6.1.10-${c}`]);
    await step('6.1.9', ['6.1.9', `6.1.9-${c}`]);
    await step('6.2.1', ['6.2.1', '6.2', '6', 'latest', `6.2.1-${c}`]);
    const before621 = expected['6.1'];
    await step('6.9.5', ['6.9.5', '6.9', '6', 'latest', `6.9.5-${c}`]);
    await step('6.10.0', ['6.10.0', '6.10', '6', 'latest', `6.10.0-${c}`]);
    await step('6.11.0-rc1', ['6.11.0-rc1', `6.11.0-rc1-${c}`]);
    expect(expected['6.1']).toBe(before621);
    expect(expected['6']).toBe(expected['6.10.0']);
    expect(expected['latest']).toBe(expected['6.10.0']);
    expect(expected['6.9']).toBe(expected['6.9.5']);
  });
});

describe('kart publish: multi-arch', () => {
  it('amd64 then arm64 under the same tags gives one index with both', async () => {
    const repo = 'multi/kernel';
    const amd = await publish(repo, '6.1.10', { arch: 'amd64' });
    const arm = await publish(repo, '6.1.10', { arch: 'arm64' });
    expect(arm.platform).toBe('linux/arm64');
    const both = [
      { arch: 'amd64', digest: amd.manifest.digest },
      { arch: 'arm64', digest: arm.manifest.digest },
    ];
    for (const tag of ['6.1.10', '6.1', '6', 'latest', `6.1.10-${config12(PASSING_CONFIG)}`]) {
      expect(await platformsOf(repo, tag)).toEqual(both);
    }
    expect(arm.tags.map((t) => t.action)).toEqual(['move', 'move', 'move', 'move', 'move']);
  });

  it('two concurrent processes publishing the two arches still end with both', async () => {
    const repo = 'race/kernel';
    const amdDir = world.build({ release: '6.3.1-test', arch: 'amd64' });
    const armDir = world.build({ release: '6.3.1-test', arch: 'arm64' });
    const args = (dir: string) => [
      KART,
      'publish',
      dir,
      '--flavor',
      world.flavor,
      '--to',
      `${registry.host}/${repo}`,
      '--version',
      '6.3.1',
      '--json',
    ];
    const [a, b] = await Promise.all([
      run(process.execPath, args(amdDir)),
      run(process.execPath, args(armDir)),
    ]);
    const amd = JSON.parse(a.stdout) as PublishResult;
    const arm = JSON.parse(b.stdout) as PublishResult;
    for (const tag of ['6.3.1', '6.3', '6', 'latest', `6.3.1-${config12(PASSING_CONFIG)}`]) {
      expect((await platformsOf(repo, tag)).sort((x, y) => x.arch.localeCompare(y.arch))).toEqual([
        { arch: 'amd64', digest: amd.manifest.digest },
        { arch: 'arm64', digest: arm.manifest.digest },
      ]);
    }
  });
});

describe('kart publish: idempotency, changed configs, immutable tags, dry runs, refused builds', () => {
  const repo = 'same/kernel';
  let first: PublishResult;
  let build: string;

  beforeAll(async () => {
    build = world.build({ release: '6.1.10-test', name: 'same' });
    first = await publishKernel({
      buildDir: build,
      flavor: world.flavor,
      to: `${registry.host}/${repo}`,
      version: '6.1.10',
    });
  });

  it('republishing identical content uploads nothing, moves no tag and says unchanged', async () => {
    const before = await tagMap(repo);
    registry.requestLog?.splice(0);
    const again = await publishKernel({
      buildDir: build,
      flavor: world.flavor,
      to: `${registry.host}/${repo}`,
      version: '6.1.10',
    });
    expect(writes()).toEqual([]);
    expect(again.unchanged).toBe(true);
    expect(again.manifest).toEqual(first.manifest);
    expect(again.blobs.every((b) => b.action === 'present')).toBe(true);
    expect(again.tags.map((t) => t.action)).toEqual([
      'unchanged',
      'unchanged',
      'unchanged',
      'unchanged',
      'unchanged',
    ]);
    expect(await tagMap(repo)).toEqual(before);
  });

  it('a dry run writes nothing and prints the plan it would carry out', async () => {
    const before = await tagMap(repo);
    const blobsBefore = blobFiles();
    registry.requestLog?.splice(0);
    const plan = await publish(repo, '6.1.11', { dryRun: true });
    expect(writes()).toEqual([]);
    expect(plan.dryRun).toBe(true);
    expect(plan.tags.map((t) => [t.tag, t.action])).toEqual([
      ['6.1.11', 'create'],
      ['6.1', 'move'],
      ['6', 'move'],
      ['latest', 'move'],
      [`6.1.11-${config12(PASSING_CONFIG)}`, 'create'],
    ]);
    expect(plan.tags[1]?.previous).toBe(before['6.1']);
    expect(plan.blobs.filter((b) => b.action === 'upload').map((b) => b.what)).toEqual([
      'config',
      'kernel/image',
      'kernel/metadata',
      'manifest',
    ]);
    expect(await tagMap(repo)).toEqual(before);
    expect(blobFiles()).toEqual(blobsBefore);
  });

  it('a changed config gets a new immutable tag, moves the aliases, and leaves the old immutable tag', async () => {
    const before = await tagMap(repo);
    const oldImmutable = `6.1.10-${config12(PASSING_CONFIG)}`;
    const newImmutable = `6.1.10-${config12(CHANGED_CONFIG)}`;
    const changed = await publish(repo, '6.1.10', { config: CHANGED_CONFIG, release: '6.1.10-test' });
    const next = changed.tags[0]?.next as string;
    expect(changed.tags.map((t) => [t.tag, t.action])).toEqual([
      ['6.1.10', 'move'],
      ['6.1', 'move'],
      ['6', 'move'],
      ['latest', 'move'],
      [newImmutable, 'create'],
    ]);
    const after = await tagMap(repo);
    expect(after).toEqual({
      ...before,
      '6.1.10': next,
      '6.1': next,
      '6': next,
      latest: next,
      [newImmutable]: next,
    });
    expect(after[oldImmutable]).toBe(before[oldImmutable]);
  });

  it('refuses to move an immutable tag to other content (TAG_IMMUTABLE), writing nothing; --force moves it', async () => {
    const before = await tagMap(repo);
    registry.requestLog?.splice(0);
    const immutable = `6.1.10-${config12(PASSING_CONFIG)}`;
    // Same config, other kernel bytes: the immutable tag would name other content.
    const attempt = publish(repo, '6.1.10', { release: '6.1.10-rebuilt' });
    await expect(attempt).rejects.toMatchObject({ code: 'TAG_IMMUTABLE', exitCode: 2 });
    await expect(attempt).rejects.toThrow(`immutable tag would move: ${immutable} (`);
    expect(writes()).toEqual([]);
    expect(await tagMap(repo)).toEqual(before);

    const forced = await publish(repo, '6.1.10', { release: '6.1.10-rebuilt', force: true });
    expect(forced.tags.find((t) => t.tag === immutable)?.action).toBe('move');
    expect((await tagMap(repo))[immutable]).toBe(forced.tags[0]?.next);
  });

  it('a config that fails its flavor pushes nothing: no new blob, no new tag (REQUIREMENTS_UNMET)', async () => {
    const before = await tagMap(repo);
    const blobsBefore = blobFiles();
    registry.requestLog?.splice(0);
    const attempt = publish(repo, '6.1.12', { config: FAILING_CONFIG });
    await expect(attempt).rejects.toMatchObject({ code: 'REQUIREMENTS_UNMET', exitCode: 1 });
    await expect(attempt).rejects.toThrow(/does not meet flavor testflavor \(1 requirement failed\)/);
    expect(registry.requestLog).toEqual([]);
    expect(blobFiles()).toEqual(blobsBefore);
    expect(await tagMap(repo)).toEqual(before);
  });
});

describe('kart publish: a failure in the middle of the push', () => {
  it('a layer upload that fails after others landed leaves every tag as it was', async () => {
    const repo = 'midpush/kernel';
    await publish(repo, '6.1.10');
    const before = await tagMap(repo);
    // The registry is real; only the kernel layer's upload fails, as a connection that stays down past
    // the retry budget would, after the config layer and the config blob went up.
    const pushed: string[] = [];
    let landed: () => void = () => {};
    const firstLanded = new Promise<void>((resolve) => (landed = resolve));
    const attempt = publish(repo, '6.1.11', {
      openDestination: async (reference) => {
        const opened = await openReference(reference);
        const target = overriding(opened.target, {
          push: async (desc: Descriptor, content: Readable) => {
            if (desc.annotations?.['dev.edera.kernel.file'] === 'kernel/image') {
              await firstLanded; // uploads run 4 at a time: fail only once another blob is in
              content.destroy();
              throw new KartError('CONNECTION_FAILED', `upload of ${desc.digest} cut (test)`, {
                exitCode: 3,
              });
            }
            await opened.target.push(desc, content);
            pushed.push(desc.mediaType);
            landed();
          },
        });
        return { target, close: () => opened.close() };
      },
    });
    await expect(attempt).rejects.toMatchObject({ code: 'CONNECTION_FAILED', exitCode: 3 });
    expect(pushed.length).toBeGreaterThan(0); // other blobs did land: the failure was mid-push
    expect(pushed).not.toContain(MediaType.OciManifest);
    expect(await tagMap(repo)).toEqual(before);
  });
});

describe('kart publish --registry and --tag-template, then kart inspect, on the command line', () => {
  it('takes the repository from the flavor, adds the templated tag, and inspect reads it back remotely', async () => {
    const buildDir = world.build({ release: '6.3.1-test', arch: 'amd64' });
    const published = await run(process.execPath, [
      KART,
      'publish',
      buildDir,
      '--flavor',
      world.flavor,
      '--registry',
      registry.host,
      '--version',
      '6.3.1',
      '--tag-template',
      '{version}-k{configVersion}',
      '--template-value',
      'configVersion=83',
      '--json',
    ]);
    const result = JSON.parse(published.stdout) as { destination?: string; tags: { tag: string }[] };
    expect(result.tags.map((t) => t.tag)).toContain('6.3.1-k83');
    // The flavor file says `repository = test-kernel`.
    const tags = await tagMap('test-kernel');
    expect(Object.keys(tags)).toEqual(
      expect.arrayContaining(['6.3.1', '6.3.1-k83', `6.3.1-${config12(PASSING_CONFIG)}`]),
    );
    expect(tags['6.3.1-k83']).toBe(tags['6.3.1']);

    const inspected = await run(process.execPath, [
      KART,
      'inspect',
      `${registry.host}/test-kernel:6.3.1-k83`,
      '--json',
    ]);
    const report = JSON.parse(inspected.stdout) as unknown;
    expect(report).toMatchObject({
      platforms: [
        {
          platform: 'linux/amd64',
          annotations: { 'dev.edera.kernel.flavor': 'testflavor', 'dev.edera.kernel.version': '6.3.1' },
          metadata: {
            arch: 'x86_64',
            version: '6.3.1',
            unameRelease: '6.3.1-test',
            tags: ['6.3.1', `6.3.1-${config12(PASSING_CONFIG)}`, '6.3.1-k83'],
          },
        },
      ],
    });
  });

  it('--immutable-tag-template makes a tag that refuses other content (TAG_IMMUTABLE) unless --force', async () => {
    const publishLinuxKitStyle = (config: string, ...extra: string[]) =>
      run(process.execPath, [
        KART,
        'publish',
        world.build({ release: '6.4.2-test', arch: 'amd64', config }),
        '--flavor',
        world.flavor,
        '--to',
        `${registry.host}/linuxkit/kernel`,
        '--immutable-tag-template',
        '{version}-{hash}',
        '--template-value',
        'hash=0a1b2c3',
        '--json',
        ...extra,
      ]).then(
        (done) => ({ code: 0, stdout: done.stdout, stderr: done.stderr }),
        (failed: { code: number; stdout: string; stderr: string }) => failed,
      );
    const first = await publishLinuxKitStyle(PASSING_CONFIG);
    expect(first.code).toBe(0);
    const pinned = (await tagMap('linuxkit/kernel'))['6.4.2-0a1b2c3'];
    expect(pinned).toBeDefined();
    // The same hash over another config: a different build under a tag that vouches for one.
    const refused = await publishLinuxKitStyle(CHANGED_CONFIG);
    expect(refused.code).toBe(2);
    expect(JSON.parse(refused.stdout).error).toMatchObject({ code: 'TAG_IMMUTABLE' });
    expect(JSON.parse(refused.stdout).error.message).toContain('6.4.2-0a1b2c3');
    expect((await tagMap('linuxkit/kernel'))['6.4.2-0a1b2c3']).toBe(pinned);
    const forced = await publishLinuxKitStyle(CHANGED_CONFIG, '--force');
    expect(forced.code).toBe(0);
    expect((await tagMap('linuxkit/kernel'))['6.4.2-0a1b2c3']).not.toBe(pinned);
  });
});
