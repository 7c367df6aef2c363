import { KartError } from '../errors.ts';
import { fetchManifest, pushBytes, type FetchedManifest } from './manifest-io.ts';
import { isIndexMediaType, isManifestMediaType } from './media-types.ts';
import { isDigest } from './digest.ts';
import { resolveIfPresent } from './resolve-if-present.ts';
import { formatPlatform, platformMatches } from './platform.ts';
import { successors } from './successors.ts';
import { DEFAULT_TRANSFER_RETRIES, retryTransient } from './transient-retry.ts';
import type { Descriptor, Platform } from './schema.ts';
import { canMount, type ReadOnlyStorage, type Storage, type Target } from './store.ts';
import { observeTransfer, throwIfAborted, type TransferOptions } from './transfer-observer.ts';

/**
 * The one graph copy (after oras-go's Copy): moves a manifest or index and everything below it from
 * any store to any other, skipping what the destination already has, children before parents, with
 * bounded concurrency. Push, pull and copy are all this function with different ends, so it knows
 * nothing about layouts or registries: only the Target interfaces.
 */
export interface CopyHooks {
  /** Before a node's content is transferred. */
  onCopyStart?(desc: Descriptor): void | Promise<void>;
  /** After a node is stored at the destination. */
  onCopyDone?(desc: Descriptor): void | Promise<void>;
  /** A node (and so everything below it) the destination already has. */
  onCopySkipped?(desc: Descriptor): void | Promise<void>;
  /** A blob the destination took from `mountFrom` instead of receiving its bytes. */
  onMounted?(desc: Descriptor): void | Promise<void>;
}

export interface CopyGraphOptions extends CopyHooks, TransferOptions {
  /** How many store operations run at once. Default 4. */
  concurrency?: number;
  /**
   * How many more times a node's transfer starts over (fetched again from the source, pushed again)
   * after a transient failure (KartError.transient: a dropped connection, a stall, a rate limit).
   * The stores retry single requests themselves; this covers what they cannot replay, such as a blob
   * upload streamed from its source. Default 2.
   */
  retries?: number;
  /** First wait before a transfer starts over (ms), doubled each time. Default 500. */
  retryDelayMs?: number;
  /**
   * Which children of a fetched manifest or index to copy (oras-go's FindSuccessors). Default: all of
   * them (`successors`). A graph copied in part is stored in part: see `platforms`.
   */
  findSuccessors?: (fetched: FetchedManifest) => Descriptor[];
  /**
   * Copy, of each index, only the manifests for these platforms (and nested indexes): what a caller
   * installs on one host needs one platform's config and layers, not every architecture's. The
   * index itself is stored whole, so the destination then holds it with only some of its children;
   * an index the destination already has is therefore walked again rather than skipped.
   */
  platforms?: readonly Pick<Platform, 'os' | 'architecture' | 'variant'>[];
  /**
   * A repository of the destination's registry to mount blobs from instead of sending their bytes
   * (the distribution spec's cross-repository mount); used when the destination can mount
   * (`Mounter`), ignored otherwise.
   */
  mountFrom?: string;
}

export const DEFAULT_COPY_CONCURRENCY = 4;
export const DEFAULT_COPY_RETRIES = DEFAULT_TRANSFER_RETRIES;

export async function copyGraph(
  src: ReadOnlyStorage,
  dst: Storage,
  root: Descriptor,
  options: CopyGraphOptions = {},
): Promise<void> {
  const concurrency = options.concurrency ?? DEFAULT_COPY_CONCURRENCY;
  if (!Number.isInteger(concurrency) || concurrency < 1) {
    throw new KartError(
      'COPY_CONCURRENCY_INVALID',
      `copy concurrency ${concurrency} is not a whole number above 0`,
      {
        hint: 'pass a concurrency of 1 or more',
      },
    );
  }
  const limit = new Limiter(concurrency);
  const again = (transfer: () => Promise<void>): Promise<void> =>
    retryTransient(transfer, {
      retries: options.retries ?? DEFAULT_COPY_RETRIES,
      delayMs: options.retryDelayMs ?? 500,
      abandoned: () => failure !== undefined,
    });

  const visits = new Map<string, Promise<void>>();
  let failure: { error: unknown } | undefined;

  const visit = (desc: Descriptor): Promise<void> => {
    let pending = visits.get(desc.digest);
    if (!pending) {
      // A blob shared by two manifests is copied once; both parents wait on the same promise.
      pending = copyNode(desc);
      pending.catch((error: unknown) => {
        failure ??= { error };
      });
      visits.set(desc.digest, pending);
    }
    return pending;
  };

  const { signal, onTransfer } = options;
  const children = childrenToCopy(options);
  const partial = options.findSuccessors !== undefined || options.platforms !== undefined;
  const copyNode = async (desc: Descriptor): Promise<void> => {
    if (failure) return;
    throwIfAborted(signal);
    if (await limit.run(() => dst.exists(desc))) {
      // A store that holds a node holds its whole subgraph (registries guarantee it; copy keeps it),
      // except an index a partial copy stored: it is walked again for the children wanted now, read
      // from the destination that holds it (the same bytes, content-addressed; no request to the source).
      onTransfer?.({ phase: 'skipped', desc, transferred: 0 });
      await options.onCopySkipped?.(desc);
      if (partial && isIndexMediaType(desc.mediaType)) {
        await Promise.all(children(await limit.run(() => fetchManifest(dst, desc))).map(visit));
      }
      return;
    }
    if (isManifestMediaType(desc.mediaType)) {
      const fetched = await limit.run(() => fetchManifest(src, desc));
      await Promise.all(children(fetched).map(visit));
      if (failure) return;
      await limit.run(async () => {
        throwIfAborted(signal);
        await options.onCopyStart?.(desc);
        onTransfer?.({ phase: 'start', desc, transferred: 0 });
        await again(() => pushBytes(dst, desc, fetched.bytes));
        onTransfer?.({ phase: 'done', desc, transferred: desc.size });
        await options.onCopyDone?.(desc);
      });
      return;
    }
    await limit.run(async () => {
      if (failure) return;
      throwIfAborted(signal);
      await options.onCopyStart?.(desc);
      const mountFrom = options.mountFrom;
      await again(async () => {
        const content = observeTransfer(await src.fetch(desc), desc, options);
        if (mountFrom !== undefined && canMount(dst)) {
          if ((await dst.pushOrMount(desc, content, mountFrom)) === 'mounted')
            await options.onMounted?.(desc);
        } else {
          await dst.push(desc, content);
        }
      });
      await options.onCopyDone?.(desc);
    });
  };

  try {
    await visit(root);
  } finally {
    // Never return while transfers still run: a caller that saw the error must not see writes after it.
    while (true) {
      const before = visits.size;
      await Promise.allSettled([...visits.values()]);
      if (visits.size === before) break;
    }
  }
  if (failure) throw failure.error;
}

/** The children copy walks: `findSuccessors` (or all), an index's manifests narrowed to `platforms`. */
function childrenToCopy(options: CopyGraphOptions): (fetched: FetchedManifest) => Descriptor[] {
  const find = options.findSuccessors ?? successors;
  const platforms = options.platforms;
  if (platforms === undefined) return find;
  return (fetched) => {
    const found = find(fetched);
    if (fetched.kind !== 'index') return found;
    const wanted = found.filter(
      (entry) =>
        isIndexMediaType(entry.mediaType) || platforms.some((p) => platformMatches(entry.platform, p)),
    );
    if (wanted.length === 0) {
      throw new KartError(
        'PLATFORM_NOT_FOUND',
        `index ${fetched.descriptor.digest} has no manifest for ${platforms.map(formatPlatform).join(', ')}`,
        {
          hint: `it holds ${found.map((entry) => (entry.platform ? formatPlatform(entry.platform) : entry.digest)).join(', ') || 'no manifests'}`,
        },
      );
    }
    return wanted;
  };
}

export type CopyOptions = CopyGraphOptions;

/**
 * Copies what `srcRef` (a tag or digest) names in `src` to `dst`, then tags it `dstRef` there. The tag
 * is written last, only after everything below it is stored, so a failure leaves dst's tags as they
 * were. `dstRef` defaults to `srcRef` when that is a tag; a digest `dstRef` means "do not tag".
 * Returns the root descriptor.
 */
export async function copy(
  src: Target,
  srcRef: string,
  dst: Target,
  dstRef: string | undefined = undefined,
  options: CopyOptions = {},
): Promise<Descriptor> {
  const root = await src.resolve(srcRef);
  const tag = dstRef ?? srcRef;
  if (!isDigest(tag) && (await taggedDigest(dst, tag)) === root.digest) {
    // Already there and tagged: a store holding a node holds its whole graph, so there is nothing to
    // walk and nothing to move (an unchanged push is one request).
    options.onTransfer?.({ phase: 'skipped', desc: root, transferred: 0 });
    await options.onCopySkipped?.(root);
    return root;
  }
  await copyGraph(src, dst, root, options);
  // The last moment to stop: past it, the tag moves and the copy is done.
  throwIfAborted(options.signal);
  if (!isDigest(tag)) await dst.tag(root, tag);
  return root;
}

/** What `tag` names in `store` now, or undefined when it names nothing. */
async function taggedDigest(store: Target, tag: string): Promise<string | undefined> {
  if (store.probe) return (await store.probe(tag))?.digest;
  return (await resolveIfPresent(store, tag))?.digest;
}

/** A counting semaphore: at most `size` operations in flight; waiters are served first come, first served. */
export class Limiter {
  readonly #size: number;
  #active = 0;
  readonly #waiting: Array<() => void> = [];

  constructor(size: number) {
    this.#size = size;
  }

  async run<T>(operation: () => Promise<T>): Promise<T> {
    if (this.#active >= this.#size) await new Promise<void>((wake) => this.#waiting.push(wake));
    else this.#active++;
    try {
      return await operation();
    } finally {
      const next = this.#waiting.shift();
      if (next) next();
      else this.#active--;
    }
  }
}
