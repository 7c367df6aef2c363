import { existsSync } from 'node:fs';
import { mkdir, rename, rm, stat } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { tempSiblingPath } from '../../oci/atomic-file.ts';
import type { Readable } from 'node:stream';
import { KartError } from '../../errors.ts';
import { retryTransient } from '../../oci/transient-retry.ts';
import { digestHex } from '../../oci/digest.ts';
import { openLayout, type OciLayout } from '../../oci/layout.ts';
import { withLayoutLock } from '../../oci/layout-lock.ts';
import type { Descriptor, Fetcher } from '../../oci/index.ts';
import { recordPull } from './pull-records.ts';
import { changeRefsLocked, noteSeen, readRefs, updateRefs, type CachedRoot, type Refs } from './refs-file.ts';

/**
 * The pull cache: an OCI image layout (blobs verified into a temp file, renamed to their digest name
 * only when they match, so nothing unverified ever sits under blobs/) plus refs.json (reference → the
 * root digests it resolved to). Fetching a missing blob into it is serialised across processes by a
 * lock per digest: of several pulls wanting the same blob, one downloads it and the others find it
 * stored when they get the lock.
 */
export interface KernelCache {
  readonly root: string;
  readonly layout: OciLayout;
  has(desc: Descriptor): Promise<boolean>;
  /**
   * Makes `desc` present in the cache, downloading it from `remote` when missing (no remote: offline,
   * a missing blob is CACHE_MISS). Returns whether it was already there.
   */
  ensure(
    desc: Descriptor,
    remote: Fetcher | undefined,
    options?: EnsureOptions,
  ): Promise<{ fromCache: boolean }>;
  readRefs(): Promise<Refs>;
  /**
   * Records, in one step under the cache lock, that a pull is using `root` until it calls `end()` (so
   * prune keeps every blob it reaches, whatever --keep; see pull-records.ts) and, given `seen`, that
   * the reference resolved to it (refs.json's history). Call it before fetching any blob of `root`.
   */
  beginPull(root: Descriptor, seen?: { reference: string; seenAt: string }): Promise<PullInProgress>;
  /** Records `root` as what `reference` last installed (what --offline installs). */
  notePulled(reference: string, root: CachedRoot): Promise<void>;
}

export interface PullInProgress {
  /** removes the pull's record (a killed pull's record is removed by the next prune) */
  end(): Promise<void>;
}

export interface EnsureOptions {
  /** wraps the downloading stream (a test pause hook) */
  downloading?: (content: Readable) => Readable;
}

/** Per-digest lock files under here: `locks/<hex>/.kart-index.lock`. */
export const LOCKS_DIR = '.kart-locks';

/** A download holds its lock for as long as the blob takes; a dead owner (same host) frees it at once. */
const BLOB_LOCK = { timeoutMs: 15 * 60_000, staleMs: 15 * 60_000 };

export async function openKernelCache(dir: string): Promise<KernelCache> {
  const root = resolve(dir);
  let layout: OciLayout;
  try {
    await initialiseOnce(root).catch((error: NodeJS.ErrnoException) => {
      throw FILE_ERRORS.has(error.code ?? '') ? cacheUnusable(root, error) : error;
    });
    layout = await openLayout(root, { create: true });
  } catch (error) {
    if (error instanceof KartError && error.code === 'LAYOUT_INVALID') {
      throw new KartError('CACHE_INVALID', `cache ${root} is not a kart cache: ${error.message}`, {
        exitCode: 1,
        hint: 'point --cache at an empty or new directory (the cache is an OCI image layout)',
        cause: error,
      });
    }
    throw error;
  }
  return new LayoutCache(root, layout);
}

/**
 * The cache at `dir` for a command that only reads it (cache ls, verify, prune): undefined when there
 * is none yet, which such a command reports as empty rather than creating one.
 */
export async function openExistingCache(dir: string): Promise<KernelCache | undefined> {
  const root = resolve(dir);
  const info = await stat(root).catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT') return undefined;
    throw FILE_ERRORS.has(error.code ?? '') ? cacheUnusable(root, error) : error;
  });
  if (info === undefined) return undefined;
  if (!info.isDirectory()) throw cacheUnusable(root, undefined);
  if (!existsSync(join(root, 'oci-layout'))) return undefined;
  return openKernelCache(root);
}

/** What a mistyped --cache meets: a file where the directory (or one of its parents) should be. */
const FILE_ERRORS = new Set(['ENOTDIR', 'EEXIST', 'EACCES', 'EPERM', 'EROFS', 'ENOENT']);

function cacheUnusable(root: string, cause: NodeJS.ErrnoException | undefined): KartError {
  const why =
    cause === undefined || cause.code === 'ENOTDIR' || cause.code === 'EEXIST'
      ? 'is not a directory (or a parent of it is a file)'
      : `cannot be used (${cause.code})`;
  return new KartError('CACHE_UNUSABLE', `cache ${root} ${why}`, {
    exitCode: 2,
    hint: 'point --cache at a directory kart may create or write (or leave it out for the default)',
    details: { cache: root },
    cause,
  });
}

/**
 * Several first pulls may create the cache at once; a layout half-initialised by one would look
 * invalid to another. So a new cache is built in a temp sibling and renamed into place (rename onto a
 * missing or empty directory is atomic); whoever loses the race drops its copy and uses the winner's.
 */
async function initialiseOnce(root: string): Promise<void> {
  if (existsSync(join(root, 'oci-layout'))) return;
  await mkdir(dirname(root), { recursive: true });
  const temp = tempSiblingPath(root);
  try {
    await openLayout(temp, { create: true });
    await rename(temp, root).catch((error: NodeJS.ErrnoException) => {
      if (error.code !== 'ENOTEMPTY' && error.code !== 'EEXIST') throw error;
    });
  } finally {
    await rm(temp, { recursive: true, force: true });
  }
}

class LayoutCache implements KernelCache {
  readonly root: string;
  readonly layout: OciLayout;

  constructor(root: string, layout: OciLayout) {
    this.root = root;
    this.layout = layout;
  }

  has(desc: Descriptor): Promise<boolean> {
    return this.layout.exists(desc);
  }

  async ensure(
    desc: Descriptor,
    remote: Fetcher | undefined,
    options: EnsureOptions = {},
  ): Promise<{ fromCache: boolean }> {
    if (await this.layout.exists(desc)) return { fromCache: true };
    if (remote === undefined) {
      throw new KartError(
        'CACHE_MISS',
        `${desc.digest} (${desc.mediaType}) is not in the cache ${this.root}`,
        {
          exitCode: 1,
          hint: 'pull once with the network (without --offline) to fill the cache',
          details: { digest: desc.digest },
        },
      );
    }
    const lockDir = join(this.root, LOCKS_DIR, digestHex(desc.digest));
    await mkdir(lockDir, { recursive: true });
    return withLayoutLock(
      lockDir,
      async () => {
        // Another process may have stored it while we waited for the lock.
        if (await this.layout.exists(desc)) return { fromCache: true };
        // The layout verifies size and digest while writing a temp file and renames it into blobs/
        // only when both match; a download cut beyond what the registry client resumes starts over.
        await retryTransient(async () => {
          const content = await remote.fetch(desc);
          await this.layout.push(desc, options.downloading ? options.downloading(content) : content);
        });
        return { fromCache: false };
      },
      BLOB_LOCK,
    );
  }

  readRefs(): Promise<Refs> {
    return readRefs(this.root);
  }

  async beginPull(root: Descriptor, seen?: { reference: string; seenAt: string }): Promise<PullInProgress> {
    const record = await withLayoutLock(this.root, async () => {
      if (seen !== undefined) {
        const cached = {
          mediaType: root.mediaType,
          digest: root.digest,
          size: root.size,
          seenAt: seen.seenAt,
        };
        await changeRefsLocked(this.root, (refs) => noteSeen(refs, seen.reference, cached));
      }
      return recordPull(this.root, root);
    });
    return { end: () => rm(record, { force: true }) };
  }

  async notePulled(reference: string, root: CachedRoot): Promise<void> {
    await updateRefs(this.root, (refs) => {
      noteSeen(refs, reference, root);
      const entry = refs.references[reference];
      if (entry) entry.pulled = root;
    });
  }
}
