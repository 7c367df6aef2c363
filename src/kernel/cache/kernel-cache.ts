import { constants, existsSync } from 'node:fs';
import { access, mkdir, readdir, rename, rm, stat } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { processAlive } from '../../oci/layout-lock.ts';
import { tempSiblingPath, writeFileAtomic } from '../../oci/atomic-file.ts';
import type { Readable } from 'node:stream';
import { KartError } from '../../errors.ts';
import { openLayout, type OciLayout } from '../../oci/layout.ts';
import { INGEST_DIR } from '../../oci/layout-ingest.ts';
import { withLayoutLock } from '../../oci/layout-lock.ts';
import type { Descriptor, Fetcher } from '../../oci/index.ts';
import { CacheStorage, LOCKS_DIR } from './cache-storage.ts';
import { recordPull } from './pull-records.ts';
import {
  changeRefsLocked,
  notePulled,
  noteSeen,
  readRefs,
  updateRefs,
  type CachedRoot,
  type Refs,
} from './refs-file.ts';

/**
 * The pull cache: an OCI image layout (blobs verified into a temp file, renamed to their digest name
 * only when they match, so nothing unverified ever sits under blobs/) plus refs.json (reference → the
 * root digests it resolved to). Fetching a missing blob into it is serialised across processes by a
 * lock per digest: of several pulls wanting the same blob, one downloads it and the others find it
 * stored when they get the lock.
 *
 * It heals itself: a cached blob that no longer hashes to its name is removed and fetched again by the
 * pull that finds it; a damaged index.json or refs.json is replaced, with a notice, rather than failing
 * every pull; temp files a killed transfer left are removed (and reported) by the next pull. A cache
 * that cannot be written (a read-only mount, another user's) still serves what it holds: warm and
 * offline pulls and `cache ls` work, only downloads are refused.
 */
export interface KernelCache {
  readonly root: string;
  readonly layout: OciLayout;
  /** the cache cannot be written: it serves what it holds and records nothing */
  readonly readOnly: boolean;
  /** what the cache repaired or cleaned up while it was used (for the CLI to print as warnings) */
  readonly notices: string[];
  /** the cache as a Storage (the destination of a copy; see cache-storage.ts) */
  readonly storage: CacheStorage;
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
  /**
   * Hash a blob the cache already holds before trusting it (default true); a damaged one is removed
   * and downloaded again. false: its presence is enough (it is not read by this pull).
   */
  verify?: boolean;
}

export async function openKernelCache(dir: string): Promise<KernelCache> {
  const root = resolve(dir);
  const notices: string[] = [];
  let layout: OciLayout;
  let readOnly = false;
  try {
    if (existsSync(join(root, 'oci-layout'))) readOnly = !(await writable(root));
    if (!readOnly) {
      await initialiseOnce(root).catch((error: NodeJS.ErrnoException) => {
        throw FILE_ERRORS.has(error.code ?? '') ? cacheUnusable(root, error) : error;
      });
    }
    layout = await openCacheLayout(root, readOnly, notices);
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
  if (!readOnly) await removeDeadTempFiles(root, notices);
  return new LayoutCache(root, layout, readOnly, notices);
}

async function writable(root: string): Promise<boolean> {
  return access(root, constants.W_OK).then(
    () => true,
    () => false,
  );
}

/** The cache's layout; an index.json damaged beyond reading is replaced by an empty one (refs.json names the roots). */
async function openCacheLayout(root: string, readOnly: boolean, notices: string[]): Promise<OciLayout> {
  try {
    return await openLayout(root, { create: !readOnly });
  } catch (error) {
    const damagedIndex =
      error instanceof KartError && error.code === 'LAYOUT_INVALID' && existsSync(join(root, 'oci-layout'));
    if (!damagedIndex || readOnly) throw error;
    await writeFileAtomic(
      join(root, 'index.json'),
      JSON.stringify({
        schemaVersion: 2,
        mediaType: 'application/vnd.oci.image.index.v1+json',
        manifests: [],
      }),
    );
    notices.push(`cache ${root}: index.json was damaged and was replaced by an empty one (the blobs stay)`);
    return openLayout(root, { create: true });
  }
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
 * A directory that already exists (a mount point, systemd's CacheDirectory= under a read-only parent)
 * cannot be renamed onto: the layout is initialised inside it, under its own lock (see openLayout).
 */
async function initialiseOnce(root: string): Promise<void> {
  if (existsSync(join(root, 'oci-layout'))) return;
  const info = await stat(root).catch(() => undefined);
  if (info?.isDirectory()) return;
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

/** Ingest temp files (the layout's, in INGEST_DIR) are named `<hex16>.<pid>.<random>` or `ingest.<pid>.<random>`. */
export { INGEST_DIR, LOCKS_DIR };

/** Removes the temp files of transfers whose process is gone, and says how much that freed. */
export async function removeDeadTempFiles(root: string, notices?: string[]): Promise<void> {
  const dir = join(root, INGEST_DIR);
  let files = 0;
  let bytes = 0;
  for (const name of await readdir(dir).catch(() => [] as string[])) {
    const pid = Number(name.split('.')[1]);
    if (Number.isInteger(pid) && pid > 0 && processAlive(pid)) continue;
    const size = (await stat(join(dir, name)).catch(() => undefined))?.size ?? 0;
    // A framed blob being built is a directory (framed-blobs.ts).
    await rm(join(dir, name), { recursive: true, force: true });
    files += 1;
    bytes += size;
  }
  if (files > 0) {
    notices?.push(
      `cache ${root}: removed ${files} temp file${files === 1 ? '' : 's'} (${bytes} bytes) left by an interrupted transfer`,
    );
  }
}

class LayoutCache implements KernelCache {
  readonly root: string;
  readonly layout: OciLayout;
  readonly readOnly: boolean;
  readonly notices: string[];
  readonly storage: CacheStorage;

  constructor(root: string, layout: OciLayout, readOnly: boolean, notices: string[]) {
    this.root = root;
    this.layout = layout;
    this.readOnly = readOnly;
    this.notices = notices;
    this.storage = new CacheStorage(root, layout, readOnly, notices);
  }

  has(desc: Descriptor): Promise<boolean> {
    return this.storage.present(desc);
  }

  async ensure(
    desc: Descriptor,
    remote: Fetcher | undefined,
    options: EnsureOptions = {},
  ): Promise<{ fromCache: boolean }> {
    const held = options.verify === false ? this.storage.present(desc) : this.storage.exists(desc);
    if (await held) return { fromCache: true };
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
    await this.storage.pushFrom(desc, async () => {
      const content = await remote.fetch(desc);
      return options.downloading ? options.downloading(content) : content;
    });
    return { fromCache: this.storage.storedMeanwhile.has(desc.digest) };
  }

  readRefs(): Promise<Refs> {
    return readRefs(this.root, this.notices);
  }

  async beginPull(root: Descriptor, seen?: { reference: string; seenAt: string }): Promise<PullInProgress> {
    // Nothing can be recorded in a read-only cache; nothing can prune it either.
    if (this.readOnly) return { end: async () => {} };
    const record = await withLayoutLock(this.root, async () => {
      if (seen !== undefined) {
        const cached = {
          mediaType: root.mediaType,
          digest: root.digest,
          size: root.size,
          seenAt: seen.seenAt,
        };
        await changeRefsLocked(this.root, (refs) => noteSeen(refs, seen.reference, cached), this.notices);
      }
      return recordPull(this.root, root);
    });
    return { end: () => rm(record, { force: true }) };
  }

  async notePulled(reference: string, root: CachedRoot): Promise<void> {
    if (this.readOnly) return;
    await updateRefs(this.root, (refs) => notePulled(refs, reference, root), this.notices);
  }
}
