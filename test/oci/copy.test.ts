import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { afterAll, describe, expect, it } from 'vitest';
import {
  KartError,
  type KartErrorCode,
  MemoryStore,
  copy,
  copyGraph,
  openLayout,
  type Descriptor,
  type Target,
} from '../../src/oci/index.ts';
import { buildSmallImage } from './support/small-image.ts';

const work = mkdtempSync(join(tmpdir(), 'kart-copy-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));
let counter = 0;
const fresh = (): string => join(work, `layout-${++counter}`);

/** A real MemoryStore that records pushes and how many run at once, and can fail one digest. */
class ObservedStore extends MemoryStore {
  pushed: string[] = [];
  active = 0;
  maxActive = 0;
  failOn: string | undefined;
  /** how many times a push of `failOn` fails before it is let through */
  failTimes = Infinity;
  /** fail with a transient error (a dropped connection) rather than a permanent one */
  failTransient = false;
  attempts = 0;

  override async push(desc: Descriptor, content: Readable): Promise<void> {
    this.active++;
    this.maxActive = Math.max(this.maxActive, this.active);
    try {
      // Yield a few turns so that concurrent pushes overlap for real.
      for (let i = 0; i < 5; i++) await new Promise((done) => setImmediate(done));
      if (desc.digest === this.failOn && this.attempts++ < this.failTimes) {
        content.destroy();
        throw new KartError('INJECTED' as KartErrorCode, `push of ${desc.digest} failed`, {
          transient: this.failTransient,
        });
      }
      await super.push(desc, content);
      this.pushed.push(desc.digest);
    } finally {
      this.active--;
    }
  }
}

async function tagsOf(store: Target & { tags(): AsyncIterable<string> }): Promise<string[]> {
  const tags: string[] = [];
  for await (const tag of store.tags()) tags.push(tag);
  return tags;
}

describe('copy', () => {
  it('layout → layout keeps every digest and tags the root last', async () => {
    const src = await openLayout(fresh(), { create: true });
    const image = await buildSmallImage(src);
    await src.tag(image.index, 'v1');
    const dstDir = fresh();
    const dst = await openLayout(dstDir, { create: true });
    const root = await copy(src, 'v1', dst, 'copied');
    expect(root).toEqual(image.index);
    expect(await dst.resolve('copied')).toEqual(image.index);
    const blobs = readdirSync(join(dstDir, 'blobs', 'sha256'))
      .map((hex) => `sha256:${hex}`)
      .sort();
    expect(blobs).toEqual([...image.digests].sort());
    for (const digest of image.digests) {
      expect(readFileSync(join(dstDir, 'blobs', 'sha256', digest.slice(7)))).toEqual(
        readFileSync(src.blobPath(digest as Descriptor['digest'])),
      );
    }
  });

  it('copies children before parents and a shared layer once', async () => {
    const src = new MemoryStore('src');
    const image = await buildSmallImage(src, ['amd64', 'arm64', 'riscv64']);
    const dst = new ObservedStore('dst');
    const started: string[] = [];
    await copyGraph(src, dst, image.index, { onCopyStart: (d) => void started.push(d.digest) });
    // 1 shared layer + 3 × (own layer, config, manifest) + index
    expect(dst.pushed.length).toBe(11);
    expect(new Set(dst.pushed).size).toBe(11);
    expect(started.length).toBe(11);
    expect(dst.pushed.at(-1)).toBe(image.index.digest);
    for (const [i, manifest] of image.manifests.entries()) {
      const at = dst.pushed.indexOf(manifest.digest);
      expect(dst.pushed.indexOf(image.configs[i]!.digest)).toBeLessThan(at);
      expect(dst.pushed.indexOf(image.layers[i + 1]!.digest)).toBeLessThan(at);
      expect(dst.pushed.indexOf(image.layers[0]!.digest)).toBeLessThan(at);
    }
  });

  it('skips what the destination has, without descending into it', async () => {
    const src = new MemoryStore('src');
    const first = await buildSmallImage(src, ['amd64']);
    const dst = new ObservedStore('dst');
    await copyGraph(src, dst, first.index);
    expect(dst.pushed.length).toBe(5);
    // A second image sharing the metadata layer: only its new nodes travel.
    const second = await buildSmallImage(src, ['amd64', 'arm64'], 'a');
    dst.pushed = [];
    const skipped: string[] = [];
    await copyGraph(src, dst, second.index, { onCopySkipped: (d) => void skipped.push(d.digest) });
    // amd64's manifest is the same as before (skipped whole); arm64 layer, config, manifest and the index are new.
    expect(skipped.sort()).toEqual([first.manifests[0]!.digest, first.layers[0]!.digest].sort());
    expect(dst.pushed.sort()).toEqual(
      [
        second.layers[2]!.digest,
        second.configs[1]!.digest,
        second.manifests[1]!.digest,
        second.index.digest,
      ].sort(),
    );
    // Everything present: nothing is pushed at all.
    dst.pushed = [];
    await copyGraph(src, dst, second.index);
    expect(dst.pushed).toEqual([]);
  });

  it('never runs more pushes at once than the concurrency bound', async () => {
    const src = new MemoryStore('src');
    const image = await buildSmallImage(src, ['amd64', 'arm64', 'riscv64', 's390x', 'ppc64le', '386']);
    for (const concurrency of [1, 2, 4]) {
      const dst = new ObservedStore('dst');
      await copyGraph(src, dst, image.index, { concurrency });
      expect(dst.pushed.length).toBe(image.digests.size);
      expect(dst.maxActive).toBeLessThanOrEqual(concurrency);
      expect(dst.maxActive).toBe(concurrency); // the bound is reached, so it is what limits
    }
  });

  it('a failure mid-way rejects with that error and leaves the destination tags untouched', async () => {
    const src = new MemoryStore('src');
    const image = await buildSmallImage(src);
    await src.tag(image.index, 'v2');
    const old = await buildSmallImage(src, ['amd64'], 'old');
    const dst = new ObservedStore('dst');
    await copyGraph(src, dst, old.index);
    await dst.tag(old.index, 'v2');
    dst.failOn = image.configs[1]!.digest;
    let caught: unknown;
    try {
      await copy(src, 'v2', dst);
    } catch (error) {
      caught = error;
    }
    expect((caught as KartError).code).toBe('INJECTED');
    expect((caught as KartError).message).toBe(`push of ${image.configs[1]!.digest} failed`);
    expect(await dst.resolve('v2')).toEqual(old.index);
    expect(await tagsOf(dst)).toEqual(['v2']);
    expect(await dst.exists(image.index)).toBe(false);
    expect(dst.active).toBe(0); // nothing still running after copy returned
  });

  it('an unknown source tag is NOT_FOUND and nothing is written', async () => {
    const src = new MemoryStore('src');
    const dst = new ObservedStore('dst');
    let caught: unknown;
    try {
      await copy(src, 'missing', dst);
    } catch (error) {
      caught = error;
    }
    expect((caught as KartError).code).toBe('NOT_FOUND');
    expect(dst.size).toBe(0);
  });

  it('refuses a concurrency below 1', async () => {
    const src = new MemoryStore('src');
    const image = await buildSmallImage(src, ['amd64']);
    let caught: unknown;
    try {
      await copyGraph(src, new MemoryStore(), image.index, { concurrency: 0 });
    } catch (error) {
      caught = error;
    }
    expect((caught as KartError).code).toBe('COPY_CONCURRENCY_INVALID');
  });

  it('a corrupt source blob fails the copy with DIGEST_MISMATCH and stores nothing under its digest', async () => {
    const srcDir = fresh();
    const src = await openLayout(srcDir, { create: true });
    const image = await buildSmallImage(src, ['amd64']);
    await src.tag(image.index, 'v1');
    const layer = image.layers[1]!;
    const { writeFileSync } = await import('node:fs');
    writeFileSync(src.blobPath(layer.digest), Buffer.alloc(layer.size, 1));
    const dst = await openLayout(fresh(), { create: true });
    let caught: unknown;
    try {
      await copy(src, 'v1', dst);
    } catch (error) {
      caught = error;
    }
    expect((caught as KartError).code).toBe('DIGEST_MISMATCH');
    expect(await dst.exists(layer)).toBe(false);
    expect(await tagsOf(dst)).toEqual([]);
  });
  it('starts a transfer over from the source after a transient failure, and the copy succeeds', async () => {
    const src = await openLayout(fresh(), { create: true });
    const image = await buildSmallImage(src);
    const dst = new ObservedStore();
    dst.failOn = image.layers[1]!.digest;
    dst.failTimes = 2;
    dst.failTransient = true;
    await copyGraph(src, dst, image.index, { retryDelayMs: 1 });
    expect(dst.attempts).toBe(3);
    expect(await dst.exists(image.index)).toBe(true);
    expect(dst.pushed).toContain(image.layers[1]!.digest);
  });

  it('gives up after its retry budget, and never retries a permanent failure', async () => {
    const src = await openLayout(fresh(), { create: true });
    const image = await buildSmallImage(src);
    const transient = new ObservedStore();
    transient.failOn = image.layers[1]!.digest;
    transient.failTransient = true;
    const first = await copyGraph(src, transient, image.index, { retries: 3, retryDelayMs: 1 }).catch(
      (error: unknown) => error,
    );
    expect((first as KartError).code).toBe('INJECTED');
    expect(transient.attempts).toBe(4);
    const permanent = new ObservedStore();
    permanent.failOn = image.layers[1]!.digest;
    const second = await copyGraph(src, permanent, image.index, { retryDelayMs: 1 }).catch(
      (error: unknown) => error,
    );
    expect((second as KartError).code).toBe('INJECTED');
    expect(permanent.attempts).toBe(1);
    expect(await permanent.exists(image.index)).toBe(false);
  });
  it('does nothing when the destination tag already names the root, and copies when it names another', async () => {
    const src = await openLayout(fresh(), { create: true });
    const image = await buildSmallImage(src);
    await src.tag(image.index, 'v1');
    const dst = new ObservedStore();
    await copy(src, 'v1', dst, 'v1');
    const pushes = dst.pushed.length;
    const skipped: string[] = [];
    await copy(src, 'v1', dst, 'v1', { onCopySkipped: (d) => void skipped.push(d.digest) });
    expect(dst.pushed.length).toBe(pushes);
    expect(skipped).toEqual([image.index.digest]);
    // The tag moved elsewhere: the copy walks again (finding the graph there) and moves it back.
    const other = await buildSmallImage(dst, ['amd64'], 'b');
    await dst.tag(other.index, 'v1');
    await copy(src, 'v1', dst, 'v1');
    expect((await dst.resolve('v1')).digest).toBe(image.index.digest);
  });
});
