import { PassThrough, type Readable } from 'node:stream';
import { KartError } from '../../errors.ts';
import { carryVerifiedMark, type Digest } from '../../oci/digest.ts';
import type { Descriptor } from '../../oci/schema.ts';
import type { Fetcher, Target } from '../../oci/store.ts';
import { observeTransfer, type TransferOptions } from '../../oci/transfer-observer.ts';
import type { KernelCache } from '../cache/kernel-cache.ts';
import { pauseWhileDownloading } from './test-pause.ts';

/**
 * The install's source during a cold `pull -k`, so that each layer byte is downloaded, hashed and read
 * once: a layer the cache holds (intact) is read from it; a missing one is fetched from the registry
 * (whose reader verifies it as it arrives and errors instead of ending when it is wrong) and split as
 * it arrives, one branch into the cache (under the digest's lock, renamed into blobs/ only when whole),
 * the other to the install. Neither hashes it again. (oras-go's caching `cas.Proxy` tees a fetch into
 * its cache the same way; here the cache write also takes the digest's cross-process lock.)
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
  settled(): Promise<void>;
  abandon(error: Error): Promise<void>;
}

export function onePassSource(
  cache: KernelCache,
  remote: Target,
  options: TransferOptions & {
    /** a blob was read from the cache (true) or downloaded by this pull (false) */
    note: (desc: Descriptor, fromCache: boolean) => void;
  },
): OnePassSource {
  const into = cache.storage.claiming(options.signal === undefined ? {} : { signal: options.signal });
  const stores = new Map<Digest, Promise<void>>();
  const flowing = new Set<Readable>();

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
    const content = observeTransfer(pauseWhileDownloading(await remote.fetch(desc)), desc, options);
    flowing.add(content);
    content.once('close', () => flowing.delete(content));
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

  const fetchAhead = async (desc: Descriptor): Promise<void> => {
    if (await cached(desc)) return;
    const content = observeTransfer(await remote.fetch(desc), desc, options);
    flowing.add(content);
    content.once('close', () => flowing.delete(content));
    await into.push(desc, content);
    options.note(desc, false);
  };

  return {
    fetch,
    prefetch: (layers) => {
      for (const desc of layers) {
        if (stores.has(desc.digest)) continue;
        const fetched = fetchAhead(desc);
        fetched.catch(() => undefined);
        stores.set(desc.digest, fetched);
      }
    },
    settled: async () => {
      await Promise.all(stores.values());
    },
    abandon: async (error) => {
      for (const content of flowing) content.destroy(error);
      await Promise.allSettled(stores.values());
      // Never the pull's failure: a lock that cannot be released is reclaimed as stale.
      await into.releaseAll().catch(() => undefined);
    },
  };
}

/**
 * A cached blob that turns out damaged as it is read is removed (with the cache's notice) and the read
 * fails CACHE_CORRUPT, transient: the pull then copies what is missing into the cache again and
 * installs from there. The stream keeps the cache read's verified mark (it ends only when that ends).
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
  return carryVerifiedMark(content, pass);
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
