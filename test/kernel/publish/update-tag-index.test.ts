/**
 * The multi-arch index merge and its lost-race handling, on the real OCI layout store. A race needs a
 * second writer at an exact moment, which no real part produces on demand: RacingTarget wraps the
 * layout and writes another arch's index into the tag at the chosen call (the pre-write check, or just
 * after this writer's own write), as a concurrent publisher would.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { beforeEach, describe, expect, it } from 'vitest';
import { mergePlatformEntry, readTagIndex } from '../../../src/kernel/artifact/index.ts';
import { updateTagIndex } from '../../../src/kernel/publish/index.ts';
import {
  MediaType,
  openLayout,
  type Descriptor,
  type OciLayout,
  type Target,
} from '../../../src/oci/index.ts';
import { descriptorOf, pushBytes } from '../../../src/oci/manifest-io.ts';
import { overriding } from '../../support/overriding.ts';

function platformManifest(arch: string, salt = ''): { desc: Descriptor; bytes: Buffer } {
  const bytes = Buffer.from(
    JSON.stringify({ schemaVersion: 2, mediaType: MediaType.OciManifest, arch, salt }),
  );
  return {
    desc: { ...descriptorOf(bytes, MediaType.OciManifest), platform: { os: 'linux', architecture: arch } },
    bytes,
  };
}

let layout: OciLayout;
const amd = platformManifest('amd64');
const arm = platformManifest('arm64');

beforeEach(async () => {
  layout = await openLayout(join(mkdtempSync(join(tmpdir(), 'kart-index-')), 'l'), { create: true });
  for (const m of [amd, arm]) await pushBytes(layout, m.desc, m.bytes);
});

async function writeIndex(target: Target, tag: string, entries: Descriptor[]): Promise<string> {
  const merged = entries.reduce(
    (acc, e) => mergePlatformEntry(acc.index.manifests, e),
    mergePlatformEntry([], entries[0] as Descriptor),
  );
  await pushBytes(target, merged.descriptor, merged.bytes);
  await target.tag(merged.descriptor, tag);
  return merged.descriptor.digest;
}

/** Forwards to the layout; at resolve call number `at` for `tag`, first lets "another publisher" write. */
class RacingTarget implements Target {
  readonly name = 'racing';
  #resolves = 0;
  readonly inner: OciLayout;
  readonly tagName: string;
  readonly at: number;
  readonly other: () => Promise<unknown>;
  constructor(inner: OciLayout, tagName: string, at: number, other: () => Promise<unknown>) {
    this.inner = inner;
    this.tagName = tagName;
    this.at = at;
    this.other = other;
  }
  fetch(desc: Descriptor) {
    return this.inner.fetch(desc);
  }
  exists(desc: Descriptor) {
    return this.inner.exists(desc);
  }
  push(desc: Descriptor, content: Readable) {
    return this.inner.push(desc, content);
  }
  tag(desc: Descriptor, reference: string) {
    return this.inner.tag(desc, reference);
  }
  async resolve(reference: string) {
    if (reference === this.tagName && ++this.#resolves === this.at) await this.other();
    return this.inner.resolve(reference);
  }
}

describe('mergePlatformEntry', () => {
  it('appends a new platform, replaces the same one in place, keeps the others, and is byte-stable', () => {
    const one = mergePlatformEntry([], amd.desc);
    expect(one.index.manifests).toEqual([amd.desc]);
    const two = mergePlatformEntry(one.index.manifests, arm.desc);
    expect(two.index.manifests).toEqual([amd.desc, arm.desc]);
    const amd2 = platformManifest('amd64', 'rebuilt');
    expect(mergePlatformEntry(two.index.manifests, amd2.desc).index.manifests).toEqual([amd2.desc, arm.desc]);
    expect(mergePlatformEntry(two.index.manifests, amd.desc).bytes.equals(two.bytes)).toBe(true);
    expect(two.bytes.toString()).toBe(
      JSON.stringify({ schemaVersion: 2, mediaType: MediaType.OciIndex, manifests: [amd.desc, arm.desc] }),
    );
  });
});

describe('updateTagIndex', () => {
  it('creates, then keeps another arch when adding one, then is unchanged on a repeat', async () => {
    const created = await updateTagIndex(layout, '6.1', amd.desc);
    expect(created).toMatchObject({
      action: 'create',
      previous: undefined,
      platforms: ['linux/amd64'],
      attempts: 1,
    });
    const moved = await updateTagIndex(layout, '6.1', arm.desc);
    expect(moved).toMatchObject({
      action: 'move',
      previous: created.next,
      platforms: ['linux/amd64', 'linux/arm64'],
    });
    const again = await updateTagIndex(layout, '6.1', arm.desc);
    expect(again).toMatchObject({ action: 'unchanged', previous: moved.next, next: moved.next, attempts: 1 });
    expect((await readTagIndex(layout, '6.1')).entries).toEqual([amd.desc, arm.desc]);
  });

  it('a write by another publisher between the read and the write: reads again and merges (no arch dropped)', async () => {
    const racing = new RacingTarget(layout, '6', 2, () => writeIndex(layout, '6', [arm.desc]));
    const update = await updateTagIndex(racing, '6', amd.desc);
    expect(update.attempts).toBe(2);
    expect((await readTagIndex(layout, '6')).entries).toEqual([arm.desc, amd.desc]);
    expect(update.platforms).toEqual(['linux/arm64', 'linux/amd64']);
  });

  it('overwritten right after its own write: sees its entry gone, reads again and merges', async () => {
    // Call 3 is the read-back after the write: the other publisher has just replaced the index.
    const racing = new RacingTarget(layout, 'latest', 3, () => writeIndex(layout, 'latest', [arm.desc]));
    const update = await updateTagIndex(racing, 'latest', amd.desc);
    expect(update.attempts).toBe(2);
    expect((await readTagIndex(layout, 'latest')).entries).toEqual([arm.desc, amd.desc]);
  });

  it('gives up with PUBLISH_INDEX_CONFLICT when the index never holds still, leaving the last writer', async () => {
    let n = 0;
    let lastOther: Descriptor | undefined;
    const always = overriding<Target>(layout, {
      // Like a registry: no atomic tag update, so the read-merge-write retries are what is tested.
      updateTag: undefined,
      resolve: async (reference: string) => {
        // Every pre-write check sees a fresh index from someone else.
        if (reference === 'x' && ++n % 2 === 0) {
          lastOther = platformManifest('arm64', String(n)).desc;
          await writeIndex(layout, 'x', [lastOther]);
        }
        return layout.resolve(reference);
      },
    });
    const attempt = updateTagIndex(always, 'x', amd.desc, { maxAttempts: 3 });
    await expect(attempt).rejects.toMatchObject({ code: 'PUBLISH_INDEX_CONFLICT', exitCode: 3 });
    await expect(attempt).rejects.toThrow(
      'racing:x: the index kept changing while publishing into it (3 attempts)'.replace(
        'racing',
        layout.name,
      ),
    );
    // Giving up writes nothing of its own: the tag is the other publisher's last index, untouched.
    expect((await readTagIndex(layout, 'x')).entries).toEqual([lastOther]);
  });

  it('on a store with atomic tag updates (a layout), two arches updated at once both stay, in one round', async () => {
    const [first, second] = await Promise.all([
      updateTagIndex(layout, 'both', amd.desc),
      updateTagIndex(layout, 'both', arm.desc),
    ]);
    expect([first.attempts, second.attempts]).toEqual([1, 1]);
    const entries = (await readTagIndex(layout, 'both')).entries;
    expect(entries.map((e) => e.digest).sort()).toEqual([amd.desc.digest, arm.desc.digest].sort());
  });
});
