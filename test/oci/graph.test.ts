/** successors() and copy's platform selection, over a real two-platform image in memory. */
import { describe, expect, it } from 'vitest';
import {
  MediaType,
  MemoryStore,
  copyGraph,
  descriptorOf,
  fetchManifest,
  fetchSuccessors,
  pushJson,
  successors,
  successorsOfBytes,
  type Descriptor,
} from '../../src/oci/index.ts';
import { kartErrorOf } from '../support/kart-error.ts';
import { buildSmallImage } from './support/small-image.ts';

/** A MemoryStore that records the digests fetched from it. */
class CountingStore extends MemoryStore {
  fetched: string[] = [];
  override async fetch(desc: Descriptor): ReturnType<MemoryStore['fetch']> {
    this.fetched.push(desc.digest);
    return super.fetch(desc);
  }
}

describe('successors', () => {
  it('an index has its manifests, a manifest its config then layers, a blob nothing', async () => {
    const store = new MemoryStore();
    const image = await buildSmallImage(store);
    expect(await fetchSuccessors(store, image.index)).toEqual(image.manifests);
    const amd64 = image.manifests[0]!;
    const fetched = await fetchManifest(store, amd64);
    expect(successors(fetched)).toEqual([image.configs[0], image.layers[1], image.layers[0]]);
    expect(successorsOfBytes(amd64, fetched.bytes)).toEqual(successors(fetched));
    expect(await fetchSuccessors(store, image.layers[0]!)).toEqual([]);
  });

  it('a referrer’s subject is not its child', async () => {
    const store = new MemoryStore();
    const image = await buildSmallImage(store);
    const empty = descriptorOf(Buffer.from('{}'), MediaType.OciEmpty);
    const referrer = await pushJson(store, MediaType.OciManifest, {
      schemaVersion: 2,
      mediaType: MediaType.OciManifest,
      config: empty,
      layers: [],
      subject: image.index,
    });
    expect(successorsOfBytes(referrer.descriptor, referrer.bytes)).toEqual([empty]);
  });
});

describe('copyGraph platforms', () => {
  it('fetches and stores only the wanted platform’s manifest, config and layers under the whole index', async () => {
    const src = new CountingStore();
    const image = await buildSmallImage(src);
    const dst = new MemoryStore();
    await copyGraph(src, dst, image.index, { platforms: [{ os: 'linux', architecture: 'arm64' }] });
    const arm64 = [image.index, image.manifests[1], image.configs[1], image.layers[2], image.layers[0]];
    expect(src.fetched.sort()).toEqual(arm64.map((d) => d!.digest).sort());
    for (const desc of arm64) expect(await dst.exists(desc!)).toBe(true);
    for (const desc of [image.manifests[0], image.configs[0], image.layers[1]]) {
      expect(await dst.exists(desc!)).toBe(false);
    }

    // The index is there now, with one platform: a copy for the other walks it again, reading it from
    // the destination that holds it (the source is not asked for it twice).
    src.fetched = [];
    await copyGraph(src, dst, image.index, { platforms: [{ os: 'linux', architecture: 'amd64' }] });
    expect(src.fetched.sort()).toEqual(
      [image.manifests[0], image.configs[0], image.layers[1]].map((d) => d!.digest).sort(),
    );
    for (const digest of image.digests)
      expect(await dst.exists({ ...image.layers[0]!, digest } as Descriptor)).toBe(true);
  });

  it('an index without the platform is PLATFORM_NOT_FOUND, naming what it holds, and nothing is stored', async () => {
    const src = new MemoryStore();
    const image = await buildSmallImage(src);
    const dst = new MemoryStore();
    const error = await kartErrorOf(
      copyGraph(src, dst, image.index, { platforms: [{ os: 'linux', architecture: 'riscv64' }] }),
    );
    expect(error.code).toBe('PLATFORM_NOT_FOUND');
    expect(error.message).toBe(`index ${image.index.digest} has no manifest for linux/riscv64`);
    expect(error.hint).toBe('it holds linux/amd64, linux/arm64');
    expect(await dst.exists(image.index)).toBe(false);
  });
});
