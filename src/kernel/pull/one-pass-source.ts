import { rm } from 'node:fs/promises';
import { PassThrough, Transform, pipeline, type Readable, type TransformCallback } from 'node:stream';
import { KartError } from '../../errors.ts';
import { carryBackingFile } from '../../oci/backing-file.ts';
import { carryVerifiedMark, type Digest } from '../../oci/digest.ts';
import type { Descriptor } from '../../oci/schema.ts';
import type { Fetcher, Target } from '../../oci/store.ts';
import { observeTransfer, type TransferOptions } from '../../oci/transfer-observer.ts';
import type { KernelCache } from '../cache/kernel-cache.ts';
import { MAX_FRAME_BYTES, type Frame } from '../cache/framed-blobs.ts';
import type { WrittenFile } from '../install/layer-tree.ts';
import { pauseWhileDownloading } from './test-pause.ts';

/**
 * The install's source during a cold `pull -k`, so that each layer byte is downloaded, hashed and read
 * once: a layer the cache holds (intact) is read from it; a missing one is fetched from the registry
 * (whose reader verifies it as it arrives and errors instead of ending when it is wrong) and split as
 * it arrives, one branch into the cache (under the digest's lock, renamed into blobs/ only when whole),
 * the other to the install. Neither hashes it again. (oras-go's caching `cas.Proxy` tees a fetch into
 * its cache the same way; here the cache write also takes the digest's cross-process lock.)
 *
 * A layer `frames` picks (a kart layer: one file in an uncompressed tar, on the filesystem of DEST) is
 * not written to the cache at all as it arrives: only its first and last bytes are kept, and once the
 * install has written its file, `keepFiles()` has the cache keep the layer as that file (a reflink or a
 * hard link of it) between those bytes (framed-blobs.ts). The file's bytes reach the disk once.
 *
 * `prefetch()` fetches small layers into the cache side by side, ahead of the install (which applies
 * layers in order, so only a layer it is not reading yet can come early; a large one would wait in
 * memory or be read back). `settled()` waits until every blob this source downloaded is stored in
 * the cache (the pull calls it before its swap, so a kernel is never installed that `--offline` could
 * not install again); `abandon()` stops what still flows after a failure and releases the digests'
 * locks.
 */
export interface OnePassSource extends Fetcher {
  prefetch(layers: Descriptor[]): void;
  /** the install wrote `layer`'s files (installKernel's onLayerFiles) */
  keepFiles(layer: Descriptor, files: WrittenFile[]): Promise<void>;
  settled(): Promise<void>;
  abandon(error: Error): Promise<void>;
}

export function onePassSource(
  cache: KernelCache,
  remote: Target,
  options: TransferOptions & {
    /** a blob was read from the cache (true) or downloaded by this pull (false) */
    note: (desc: Descriptor, fromCache: boolean) => void;
    /** layers the cache keeps by sharing the installed file (see above); default none */
    frames?: (layer: Descriptor) => boolean;
  },
): OnePassSource {
  const into = cache.storage.claiming(options.signal === undefined ? {} : { signal: options.signal });
  const stores = new Map<Digest, Promise<void>>();
  const flowing = new Set<Readable>();
  /** framed layers downloading or downloaded, whose files the install has not reported yet */
  const unframed = new Map<Digest, { edges: EdgeRecorder; kept: (stored: Promise<void>) => void }>();

  /**
   * Whether the cache holds `desc` (noted as from the cache); when it does not, this process now
   * holds its lock and is the one to download it.
   */
  const cached = async (desc: Descriptor): Promise<boolean> => {
    if (!(await cache.storage.present(desc)) && !(await into.exists(desc))) return false;
    options.note(desc, true);
    options.onTransfer?.({ phase: 'skipped', desc, transferred: 0 });
    return true;
  };

  /** A download from the registry, observed, and stopped by `abandon()` while it flows. */
  const download = async (
    desc: Descriptor,
    wrap: (content: Readable) => Readable = (content) => content,
  ): Promise<Readable> => {
    const content = observeTransfer(wrap(await remote.fetch(desc)), desc, options);
    flowing.add(content);
    content.once('close', () => flowing.delete(content));
    return content;
  };

  const fetch = async (desc: Descriptor): Promise<Readable> => {
    // A layer fetched ahead, or read twice (a hardlink's second pass), is read from the cache once it
    // is stored there.
    const storing = stores.get(desc.digest);
    if (storing !== undefined) {
      await storing;
      return healing(cache, desc, await cache.storage.fetch(desc));
    }
    // A stored layer is read once, verified as it goes by (not hashed first to be trusted, then again).
    if (await cached(desc)) return healing(cache, desc, await cache.storage.fetch(desc));
    const content = await download(desc, pauseWhileDownloading);
    if (options.frames?.(desc) === true) return framedDownload(desc, content);
    const [toCache, toInstall] = split(content, desc.digest);
    const stored = into.push(desc, toCache).then(
      () => options.note(desc, false),
      (error: unknown) => {
        // The cache could not store it (a full disk): the install must not go on without it.
        toInstall.destroy(error as Error);
        throw error;
      },
    );
    stored.catch(() => undefined);
    stores.set(desc.digest, stored);
    return toInstall;
  };

  /** The install reads the download itself; the cache keeps it once `keepFiles` names its file. */
  const framedDownload = (desc: Descriptor, content: Readable): Readable => {
    const edges = new EdgeRecorder();
    const stored = new Promise<void>((resolve, reject) => {
      unframed.set(desc.digest, { edges, kept: (keeping) => keeping.then(resolve, reject) });
      // The install sees a failed download through `edges`; this keeps the pull from waiting on it.
      pipeline(content, edges, (error) => {
        if (error && unframed.delete(desc.digest)) reject(error);
      });
    });
    stored.catch(() => undefined);
    stores.set(desc.digest, stored);
    return carryVerifiedMark(content, edges);
  };

  const keepFiles = async (layer: Descriptor, files: WrittenFile[]): Promise<void> => {
    const waiting = unframed.get(layer.digest);
    if (waiting === undefined) return;
    unframed.delete(layer.digest);
    const [file] = files;
    const frame =
      file !== undefined && files.length === 1 ? waiting.edges.frame(file.dataOffset, file.size) : undefined;
    if (file === undefined || frame === undefined) {
      waiting.kept(Promise.reject(notFramable(layer, `it holds ${files.length} files the install kept`)));
      return;
    }
    const held = cache.storage.framed.holdFile(file.path);
    const keeping = held.then(async (path) => {
      try {
        await into.pushFramed(layer, path ?? file.path, frame);
        options.note(layer, false);
      } finally {
        if (path !== undefined) await rm(path, { force: true });
      }
    });
    // Handed over before anything can fail here, so settled() and abandon() always see it end.
    waiting.kept(keeping);
    // The install moves its file once this returns: the cache holds it by a link (or reflink) of its
    // own first; undefined: another filesystem after all, so the blob is stored whole from it, now.
    if ((await held) === undefined) await keeping;
  };

  const fetchAhead = async (desc: Descriptor): Promise<void> => {
    if (await cached(desc)) return;
    const content = await download(desc);
    await into.push(desc, content);
    options.note(desc, false);
  };

  return {
    fetch,
    keepFiles,
    prefetch: (layers) => {
      for (const desc of layers) {
        if (stores.has(desc.digest)) continue;
        const fetched = fetchAhead(desc);
        fetched.catch(() => undefined);
        stores.set(desc.digest, fetched);
      }
    },
    settled: async () => {
      // A framed layer whose files the install never reported cannot be kept that way.
      for (const [digest, waiting] of unframed) {
        waiting.kept(Promise.reject(notFramable({ digest }, 'the install kept none of its files')));
      }
      unframed.clear();
      await Promise.all(stores.values());
    },
    abandon: async (error) => {
      for (const content of flowing) content.destroy(error);
      for (const waiting of unframed.values()) waiting.kept(Promise.reject(error));
      unframed.clear();
      await Promise.allSettled(stores.values());
      // Never the pull's failure: a lock that cannot be released is reclaimed as stale.
      await into.releaseAll().catch(() => undefined);
    },
  };
}

/**
 * A cached blob that turns out damaged as it is read is removed (with the cache's notice) and the read
 * fails CACHE_CORRUPT, transient: the pull then copies what is missing into the cache again and
 * installs from there. The stream keeps the cache read's verified mark (it ends only when that ends)
 * and its backing file (a framed layer's: the install may share the file rather than copy it).
 */
function healing(cache: KernelCache, desc: Descriptor, content: Readable): Readable {
  const pass = new PassThrough();
  content.once('error', (error) => {
    const damaged =
      error instanceof KartError && (error.code === 'DIGEST_MISMATCH' || error.code === 'SIZE_MISMATCH');
    if (!damaged) {
      pass.destroy(error);
      return;
    }
    cache.storage.removeDamaged(desc).then(
      () =>
        pass.destroy(
          new KartError('CACHE_CORRUPT', `cache ${cache.root}: blob ${desc.digest} is damaged`, {
            exitCode: 1,
            transient: true,
            hint: 'it was removed; the pull fetches it again',
            cause: error,
          }),
        ),
      (refused: unknown) => pass.destroy(refused as Error),
    );
  });
  pass.once('close', () => {
    if (!content.destroyed) content.destroy();
  });
  content.pipe(pass);
  return carryBackingFile(content, carryVerifiedMark(content, pass));
}

/**
 * Two readers of one stream, with backpressure from both (`pipe` to two destinations waits for the
 * slower). The source's failure, or its closing before its end, fails both; each branch keeps the
 * source's verified mark, since it ends only when the source ends (a verified source errors instead).
 */
function split(source: Readable, digest: Digest): [Readable, Readable] {
  const branches = [new PassThrough(), new PassThrough()] as const;
  let ended = false;
  source.once('end', () => (ended = true));
  const fail = (error: Error): void => {
    for (const branch of branches) if (!branch.destroyed) branch.destroy(error);
  };
  source.once('error', fail);
  source.once('close', () => {
    if (!ended) fail(prematureClose(digest));
  });
  // A branch that fails (the install refused the layer, the cache's disk is full) stops the download;
  // so does one closed before its end without an error (pipe would keep waiting for it to drain, and
  // the other branch would wait for ever).
  for (const branch of branches) {
    branch.once('error', (error) => {
      if (!source.destroyed) source.destroy(error);
    });
    branch.once('close', () => {
      if (!branch.readableEnded && !source.destroyed) source.destroy(prematureClose(digest));
    });
    source.pipe(branch);
  }
  return [carryVerifiedMark(source, branches[0]), carryVerifiedMark(source, branches[1])];
}

function prematureClose(digest: Digest): KartError {
  return new KartError('TRANSFER_INTERRUPTED', `the download of blob ${digest} stopped before its end`, {
    exitCode: 3,
    transient: true,
    hint: 'try again',
  });
}

/**
 * Keeps the first and the last MAX_FRAME_BYTES of what passes (a one-file tar layer's framing: the
 * headers before its file, the padding and end-of-archive blocks after), copying only the head; the
 * tail is the few most recent chunks, held by reference.
 */
class EdgeRecorder extends Transform {
  readonly #head = Buffer.alloc(MAX_FRAME_BYTES);
  #headBytes = 0;
  readonly #tail: Buffer[] = [];
  #tailBytes = 0;
  #total = 0;

  override _transform(chunk: Buffer, _encoding: BufferEncoding, done: TransformCallback): void {
    if (this.#headBytes < MAX_FRAME_BYTES) {
      this.#headBytes += chunk.copy(this.#head, this.#headBytes, 0);
    }
    this.#tail.push(chunk);
    this.#tailBytes += chunk.length;
    while (this.#tail.length > 1 && this.#tailBytes - this.#tail[0]!.length >= MAX_FRAME_BYTES) {
      this.#tailBytes -= this.#tail.shift()!.length;
    }
    this.#total += chunk.length;
    done(null, chunk);
  }

  /** The bytes around a file at `dataOffset` of `dataSize` bytes, when both are within what was kept. */
  frame(dataOffset: number, dataSize: number): Frame | undefined {
    const tailSize = this.#total - dataOffset - dataSize;
    if (
      dataOffset > this.#headBytes ||
      tailSize < 0 ||
      tailSize > Math.min(this.#tailBytes, MAX_FRAME_BYTES)
    ) {
      return undefined;
    }
    const recent = Buffer.concat(this.#tail, this.#tailBytes);
    return {
      head: Buffer.from(this.#head.subarray(0, dataOffset)),
      tail: Buffer.from(recent.subarray(recent.length - tailSize)),
    };
  }
}

/** Transient: the pull then copies the layer into the cache whole and installs from there. */
function notFramable(layer: { digest: Digest }, why: string): KartError {
  return new KartError(
    'CACHE_MISS',
    `layer ${layer.digest} cannot be kept in the cache by its installed file: ${why}`,
    {
      exitCode: 1,
      transient: true,
      hint: 'the pull fetches it into the cache whole and installs from there',
    },
  );
}
