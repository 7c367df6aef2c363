/**
 * The one-pass source's framed layers, below the pull: the bytes around the installed file are kept
 * exactly for every file size (the cache reads the blob back whole and verified), a failure to keep
 * the file never leaves the pull waiting or the digest locked, and the layer tree reports only the
 * files a layer still holds at its end.
 */
import { mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openKernelCache } from '../../../src/kernel/cache/kernel-cache.ts';
import { backingFileOf } from '../../../src/oci/backing-file.ts';
import { LayerTree, type LayerEntry } from '../../../src/kernel/install/layer-tree.ts';
import { onePassSource } from '../../../src/kernel/pull/one-pass-source.ts';
import { MediaType, type Descriptor } from '../../../src/oci/index.ts';
import { openLayout, type OciLayout } from '../../../src/oci/layout.ts';
import { descriptorOf, pushBytes } from '../../../src/oci/manifest-io.ts';
import { rawTar } from '../install/crafted-images.ts';

let work: string;
let remote: OciLayout;

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'kart-one-pass-'));
  remote = await openLayout(join(work, 'remote'), { create: true });
});
afterAll(() => rmSync(work, { recursive: true, force: true }));

/** A one-file layer as kart writes it: the `kernel/` directory entry, then the file. */
async function oneFileLayer(body: Buffer): Promise<{ layer: Descriptor; bytes: Buffer }> {
  const bytes = rawTar([
    { path: 'kernel/', type: '5' },
    { path: 'kernel/image', body },
  ]);
  const layer = descriptorOf(bytes, MediaType.OciLayer);
  await pushBytes(remote, layer, bytes);
  return { layer, bytes };
}

async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

const DATA_OFFSET = 1024; // the directory's header, then the file's

describe('onePassSource with framed layers', () => {
  for (const size of [0, 1, 511, 512, 65_536, 70_001, 300_000]) {
    it(`keeps a ${size}-byte file's layer as the file between the exact bytes around it`, async () => {
      const body = Buffer.alloc(size, 0x5a);
      for (let i = 0; i < size; i += 997) body[i] = i & 0xff;
      const { layer, bytes } = await oneFileLayer(body);
      const cache = await openKernelCache(join(work, `cache-${size}`));
      const source = onePassSource(cache, remote, { note: () => undefined, frames: () => true });
      const read = await readAll(await source.fetch(layer));
      expect(read.equals(bytes)).toBe(true);
      // What the install would have written from the layer's one entry.
      const staged = join(work, `staged-${size}`);
      writeFileSync(staged, body);
      await source.keepFiles(layer, [{ path: staged, dataOffset: DATA_OFFSET, size }]);
      await source.settled();
      await source.abandon(new Error('the pull is over'));
      expect((await readAll(await cache.storage.fetch(layer))).equals(bytes)).toBe(true);
      expect(await cache.storage.exists(layer)).toBe(true);
      expect(
        readFileSync(join(cache.root, 'framed/sha256', layer.digest.slice(7), 'data')).equals(body),
      ).toBe(true);
    });
  }

  it('a framed read names its backing file by the open descriptor: a swapped data file is not what a reader would clone', async () => {
    const body = Buffer.alloc(100_000, 0x41);
    const { layer, bytes } = await oneFileLayer(body);
    const cache = await openKernelCache(join(work, 'cache-swap'));
    const source = onePassSource(cache, remote, { note: () => undefined, frames: () => true });
    await readAll(await source.fetch(layer));
    const staged = join(work, 'staged-swap');
    writeFileSync(staged, body);
    await source.keepFiles(layer, [{ path: staged, dataOffset: DATA_OFFSET, size: body.length }]);
    await source.settled();
    await source.abandon(new Error('the pull is over'));
    const read = await cache.storage.fetch(layer);
    const backing = backingFileOf(read)!;
    expect(backing).toMatchObject({ offset: DATA_OFFSET, size: body.length });
    // Someone swaps the cache's data file for other bytes of the same size after the read opened it.
    const data = join(cache.root, 'framed/sha256', layer.digest.slice(7), 'data');
    writeFileSync(`${data}.other`, Buffer.alloc(body.length, 0x42));
    renameSync(`${data}.other`, data);
    expect(readFileSync(backing.path).equals(body)).toBe(true);
    expect((await readAll(read)).equals(bytes)).toBe(true);
  });

  it('a file the cache cannot take fails keepFiles, and the pull neither waits for ever nor keeps the lock', async () => {
    const { layer } = await oneFileLayer(Buffer.alloc(2 * 1024 * 1024, 7));
    const cache = await openKernelCache(join(work, 'cache-gone'));
    const source = onePassSource(cache, remote, { note: () => undefined, frames: () => true });
    await readAll(await source.fetch(layer));
    const gone = join(work, 'no-such-dir', 'image');
    await expect(
      source.keepFiles(layer, [{ path: gone, dataOffset: DATA_OFFSET, size: layer.size - 2048 }]),
    ).rejects.toMatchObject({ code: 'ENOENT' });
    const hung = new Promise((resolve) => setTimeout(() => resolve('hung'), 5_000).unref());
    await expect(Promise.race([source.settled().catch(() => 'failed'), hung])).resolves.toBe('failed');
    await expect(Promise.race([source.abandon(new Error('stop')).then(() => 'ended'), hung])).resolves.toBe(
      'ended',
    );
    // The digest's lock was released: another pull may take it at once, and finds nothing stored.
    const again = cache.storage.claiming();
    await expect(Promise.race([again.exists(layer), hung])).resolves.toBe(false);
    await again.releaseAll();
  });

  it('a layer that turns out to hold two kept files is not framed: settled() fails, transiently', async () => {
    const { layer } = await oneFileLayer(Buffer.alloc(4096, 1));
    const cache = await openKernelCache(join(work, 'cache-two'));
    const source = onePassSource(cache, remote, { note: () => undefined, frames: () => true });
    await readAll(await source.fetch(layer));
    const staged = join(work, 'staged-two');
    writeFileSync(staged, Buffer.alloc(4096, 1));
    const file = { path: staged, dataOffset: DATA_OFFSET, size: 4096 };
    await source.keepFiles(layer, [file, file]);
    await expect(source.settled()).rejects.toMatchObject({ code: 'CACHE_MISS', transient: true });
    await source.abandon(new Error('stop'));
    expect(await cache.storage.present(layer)).toBe(false);
  });
});

async function* entries(...list: LayerEntry[]): AsyncGenerator<LayerEntry> {
  yield* list;
}

describe('LayerTree.writtenByLastLayer', () => {
  const entry = (path: string, body: string, dataOffset: number): LayerEntry => ({
    path,
    type: 'file',
    size: body.length,
    linkname: '',
    body: Readable.from([Buffer.from(body)]),
    dataOffset,
  });

  it('names each file written from the layer, with where its bytes start', async () => {
    const staging = mkdtempSync(join(work, 'staging-'));
    const tree = new LayerTree(staging, (path) => path === 'kernel/image');
    await tree.applyLayer(
      entries(entry('kernel/image', 'kernel bytes', 1024), entry('kernel/notes', 'x', 2560)),
      {
        layerName: 'layer-1',
      },
    );
    const written = tree.writtenByLastLayer();
    expect(written.map(({ dataOffset, size }) => ({ dataOffset, size }))).toEqual([
      { dataOffset: 1024, size: 12 },
    ]);
    expect(readFileSync(written[0]!.path, 'utf8')).toBe('kernel bytes');
  });

  it('leaves out a file a later entry of the same layer removed (a whiteout)', async () => {
    const staging = mkdtempSync(join(work, 'staging-'));
    const tree = new LayerTree(staging, (path) => path === 'kernel/image');
    const whiteout: LayerEntry = { path: 'kernel/.wh.image', type: 'file', size: 0, linkname: '' };
    await tree.applyLayer(entries(entry('kernel/image', 'kernel bytes', 1024), whiteout), {
      layerName: 'layer-1',
    });
    expect(tree.writtenByLastLayer()).toEqual([]);
  });
});
