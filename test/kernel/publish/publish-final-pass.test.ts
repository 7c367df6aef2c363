/**
 * publishKernel's last guard against a concurrent publisher: after every tag is merged, it reads each
 * tag again, and re-merges where another writer overwrote it. When the tag keeps losing its platform,
 * publish must fail (PUBLISH_INDEX_CONFLICT), never report success with an arch dropped. The overwrite
 * has to land at an exact moment, which no real registry does on demand, so a wrapper around the real
 * layout store plays the other publisher.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { mergePlatformEntry, readTagIndex } from '../../../src/kernel/artifact/index.ts';
import { publishKernel } from '../../../src/kernel/publish/index.ts';
import {
  MediaType,
  openLayout,
  type Descriptor,
  type OciLayout,
  type Target,
} from '../../../src/oci/index.ts';
import { descriptorOf, pushBytes } from '../../../src/oci/manifest-io.ts';
import { overriding } from '../../support/overriding.ts';
import { makeFixtureWorld } from './publish-fixture.ts';

const world = makeFixtureWorld();
afterAll(() => rmSync(world.root, { recursive: true, force: true }));

/**
 * Forwards to the layout, without its atomic tag update (as a registry). Once publish has written
 * `tag` and read it back, every later read of it is preceded by the other publisher writing its own
 * index (arm64 only) over it.
 */
function overwrittenAfterEachWrite(layout: OciLayout, tag: string, other: Descriptor): Target {
  let armed = false;
  let passNext = false;
  return overriding<Target>(layout, {
    updateTag: undefined,
    tag: async (desc: Descriptor, reference: string) => {
      await layout.tag(desc, reference);
      if (reference === tag) [armed, passNext] = [true, true];
    },
    resolve: async (reference: string) => {
      if (reference === tag && armed) {
        if (passNext) passNext = false;
        else {
          const merged = mergePlatformEntry([], other);
          await pushBytes(layout, merged.descriptor, merged.bytes);
          await layout.tag(merged.descriptor, tag);
        }
      }
      return layout.resolve(reference);
    },
  });
}

describe('publishKernel against a publisher that keeps overwriting a tag', () => {
  it('fails with PUBLISH_INDEX_CONFLICT after its final merges, naming the tag and the platform', async () => {
    const dir = join(mkdtempSync(join(tmpdir(), 'kart-final-pass-')), 'layout');
    const layout = await openLayout(dir, { create: true });
    const otherBytes = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MediaType.OciManifest }));
    const other: Descriptor = {
      ...descriptorOf(otherBytes, MediaType.OciManifest),
      platform: { os: 'linux', architecture: 'arm64' },
    };
    await pushBytes(layout, other, otherBytes);
    const target = overwrittenAfterEachWrite(layout, '6.1.10', other);

    const attempt = publishKernel({
      buildDir: world.build({ release: '6.1.10-final' }),
      flavor: world.flavor,
      to: `oci:${dir}`,
      noAlias: true,
      openDestination: async () => ({ target, close: async () => {} }),
    });
    await expect(attempt).rejects.toMatchObject({
      code: 'PUBLISH_INDEX_CONFLICT',
      exitCode: 3,
      message: `oci:${dir}: 6.1.10 still lack linux/amd64 after 3 merges; another publisher keeps overwriting that tag`,
    });
    // The tag is the other publisher's; the immutable tag, which nobody raced, holds amd64.
    expect((await readTagIndex(layout, '6.1.10')).entries).toEqual([other]);
    const tags: string[] = [];
    for await (const t of layout.tags()) tags.push(t);
    const pinned = tags.find((t) => t.startsWith('6.1.10-'));
    expect(pinned).toBeDefined();
    expect(
      (await readTagIndex(layout, pinned as string)).entries.map((e) => e.platform?.architecture),
    ).toEqual(['amd64']);
  });
});
