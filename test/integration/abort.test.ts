/**
 * AbortSignal on every long operation, against the real registry: aborted in the middle of the kernel
 * blob (from its own onTransfer callback, so the point is exact), each operation rejects with ABORTED
 * and leaves what was there before: no tag moved, no blob committed, no temp file, no install.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pipeline, Transform, type Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isKartError, type TransferEvent } from '../../src/index.ts';
import { copyReference, openReference } from '../../src/registry/index.ts';
import { packKernel } from '../../src/kernel/artifact/index.ts';
import { pullKernel } from '../../src/kernel/pull/index.ts';
import { publishKernel } from '../../src/kernel/publish/index.ts';
import { openLayout } from '../../src/oci/layout.ts';
import { LOCK_FILE_NAME } from '../../src/oci/layout-lock.ts';
import { LOCKS_DIR, openKernelCache } from '../../src/kernel/cache/index.ts';
import type { Descriptor } from '../../src/oci/schema.ts';
import { debianKernelPaths } from '../support/debian-kernels.ts';
import { startRegistry, type TestRegistry } from '../support/registry.ts';
import { leftoverTempFiles } from '../support/temp-files.ts';

let registry: TestRegistry;
let work: string;
let layout: string;
let kernelLayer: Descriptor;
const LAYOUT_LOCK = resolve(import.meta.dirname, '../../src/oci/layout-lock.ts');
const debian = debianKernelPaths('amd64');

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'kart-abort-'));
  layout = join(work, 'layout');
  registry = await startRegistry();
  const packed = await packKernel(
    { kernel: debian.vmlinuz, config: debian.config, flavor: 'host', noCheck: true, tags: ['a'] },
    await openLayout(layout, { create: true }),
  );
  kernelLayer = packed.files.find((f) => f.path === 'kernel/image')!.layer;
});

afterAll(async () => {
  await registry?.stop();
  rmSync(work, { recursive: true, force: true });
});

/** A signal and an onTransfer that aborts it once 1 MiB of the kernel blob (the only one > 2 MiB) has moved. */
function abortMidKernel(): {
  signal: AbortSignal;
  onTransfer(event: TransferEvent): void;
  cut: () => number;
} {
  const controller = new AbortController();
  let at = 0;
  return {
    signal: controller.signal,
    onTransfer(event) {
      if (event.desc.size > 2 << 20 && event.transferred >= 1 << 20 && at === 0) {
        at = event.transferred;
        controller.abort();
      }
    },
    cut: () => at,
  };
}

async function expectAborted(operation: Promise<unknown>): Promise<void> {
  const error = await operation.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(isKartError(error, 'ABORTED'), String(error)).toBe(true);
}

async function registryHas(repo: string, tagOrBlob: string | Descriptor): Promise<boolean> {
  const opened = await openReference(`${registry.host}/${repo}:x`);
  try {
    if (typeof tagOrBlob !== 'string') return await opened.target.exists(tagOrBlob);
    return await opened.target.resolve(tagOrBlob).then(
      () => true,
      (e: unknown) => (isKartError(e, 'NOT_FOUND') ? false : Promise.reject(e)),
    );
  } finally {
    await opened.close();
  }
}

/** Every file under a layout's blobs/ (temp files included). */
function blobFiles(root: string): string[] {
  const dir = join(root, 'blobs', 'sha256');
  return existsSync(dir) ? readdirSync(dir) : [];
}

describe('abort mid-blob', () => {
  it('push: no tag, no kernel blob in the registry', async () => {
    const abort = abortMidKernel();
    await expectAborted(copyReference(`oci:${layout}:a`, `${registry.host}/abort/push:a`, abort));
    expect(abort.cut()).toBeGreaterThan(0);
    expect(abort.cut()).toBeLessThan(kernelLayer.size);
    expect(await registryHas('abort/push', 'a')).toBe(false);
    expect(await registryHas('abort/push', kernelLayer)).toBe(false);
  });

  it('pull into a layout: no tag, no kernel blob, no temp file', async () => {
    await copyReference(`oci:${layout}:a`, `${registry.host}/abort/source:a`);
    const into = join(work, 'pulled');
    const abort = abortMidKernel();
    await expectAborted(copyReference(`${registry.host}/abort/source:a`, `oci:${into}:a`, abort));
    expect(abort.cut()).toBeGreaterThan(0);
    const pulled = await openLayout(into);
    await expect(pulled.resolve('a')).rejects.toMatchObject({ code: 'NOT_FOUND' });
    const hex = kernelLayer.digest.slice('sha256:'.length);
    expect(blobFiles(into).filter((name) => name.includes(hex))).toEqual([]);
    expect(leftoverTempFiles(into)).toEqual([]);
  });

  it('pull -k: nothing installed, the kernel blob not cached, no temp file', async () => {
    const dest = join(work, 'kernel');
    const cache = join(work, 'cache');
    const abort = abortMidKernel();
    await expectAborted(
      pullKernel({
        reference: `${registry.host}/abort/source:a`,
        dest,
        cacheDir: cache,
        arch: 'amd64',
        target: { plainHttp: true },
        ...abort,
      }),
    );
    expect(abort.cut()).toBeGreaterThan(0);
    expect(existsSync(dest)).toBe(false);
    const hex = kernelLayer.digest.slice('sha256:'.length);
    expect(blobFiles(cache).filter((name) => name.includes(hex))).toEqual([]);
    expect(leftoverTempFiles(cache)).toEqual([]);
  });

  it("pull -k waiting for another process's download of a blob stops when aborted", async () => {
    // Another process holds the kernel blob's lock in this cache (as a pull downloading it would).
    const cache = join(work, 'cache-held');
    await openKernelCache(cache);
    const lockDir = join(cache, LOCKS_DIR, kernelLayer.digest.slice('sha256:'.length));
    const holder = spawn(
      process.execPath,
      [
        '--input-type=module',
        '-e',
        `import { withLayoutLock } from ${JSON.stringify(LAYOUT_LOCK)};
         import { mkdirSync } from 'node:fs';
         mkdirSync(${JSON.stringify(lockDir)}, { recursive: true });
         await withLayoutLock(${JSON.stringify(lockDir)}, () => {
           console.log('held');
           return new Promise((done) => process.stdin.on('end', done).resume());
         });`,
      ],
      { stdio: ['pipe', 'pipe', 'inherit'] },
    );
    try {
      await new Promise<void>((held) => holder.stdout.once('data', () => held()));
      const controller = new AbortController();
      const pull = pullKernel({
        reference: `${registry.host}/abort/source:a`,
        dest: join(work, 'kernel-held'),
        cacheDir: cache,
        arch: 'amd64',
        target: { plainHttp: true },
        signal: controller.signal,
      });
      setTimeout(() => controller.abort(), 500);
      // Without the signal the wait would last the lock's 15 minutes.
      await expectAborted(pull);
      expect(existsSync(join(work, 'kernel-held'))).toBe(false);
      expect(existsSync(join(lockDir, LOCK_FILE_NAME))).toBe(true);
    } finally {
      holder.stdin.end();
      await new Promise((done) => holder.once('close', done));
    }
  });

  it('publish: no tag in the repository', async () => {
    const abort = abortMidKernel();
    await expectAborted(
      publishKernel({
        // The cloud kernel's config meets the demo flavor (scripts/demo.sh publishes it under it).
        kernel: debianKernelPaths('cloud-amd64').vmlinuz,
        config: debianKernelPaths('cloud-amd64').config,
        flavor: resolve(import.meta.dirname, '../../kernels/flavors/demo.ini'),
        to: `${registry.host}/abort/published`,
        target: { plainHttp: true },
        ...abort,
      }),
    );
    expect(abort.cut()).toBeGreaterThan(0);
    const opened = await openReference(`${registry.host}/abort/published:x`);
    const tags: string[] = [];
    try {
      for await (const tag of (opened.target as unknown as { tags(): AsyncIterable<string> }).tags())
        tags.push(tag);
    } catch (error) {
      if (!isKartError(error, 'NOT_FOUND')) throw error;
    } finally {
      await opened.close();
    }
    expect(tags).toEqual([]);
  });

  it('pack into a layout: aborted mid-layer, no tag, no blob of that layer, no temp file', async () => {
    const into = join(work, 'packed');
    const inner = await openLayout(into, { create: true });
    const controller = new AbortController();
    // The layout as pack sees it, counting what it ingests: at 1 MiB into the kernel layer, abort.
    let ingested = 0;
    const counting = {
      name: inner.name,
      fetch: (d: Descriptor) => inner.fetch(d),
      exists: (d: Descriptor) => inner.exists(d),
      push: (d: Descriptor, c: Readable) => inner.push(d, c),
      resolve: (r: string) => inner.resolve(r),
      tag: (d: Descriptor, r: string) => inner.tag(d, r),
      updateTag: inner.updateTag.bind(inner),
      ingest: (content: Readable, mediaType: string) => {
        const meter = new Transform({
          transform(chunk: Buffer, _encoding, done) {
            ingested += chunk.length;
            if (ingested >= 1 << 20) controller.abort();
            done(null, chunk);
          },
        });
        pipeline(content, meter, () => undefined);
        return inner.ingest(meter, mediaType);
      },
    };
    await expectAborted(
      packKernel(
        {
          kernel: debian.vmlinuz,
          config: debian.config,
          flavor: 'host',
          noCheck: true,
          tags: ['b'],
          signal: controller.signal,
        },
        counting,
      ),
    );
    expect(ingested).toBeGreaterThanOrEqual(1 << 20);
    expect(ingested).toBeLessThan(kernelLayer.size);
    await expect(inner.resolve('b')).rejects.toMatchObject({ code: 'NOT_FOUND' });
    // Nothing but what the layout held before (it was new: nothing), and no temp file anywhere in it.
    expect(blobFiles(into)).toEqual([]);
    expect(leftoverTempFiles(into)).toEqual([]);
  });
});
