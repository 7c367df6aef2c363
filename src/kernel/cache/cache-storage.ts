import { mkdir, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { KartError } from '../../errors.ts';
import { digestHex, type Digest } from '../../oci/digest.ts';
import { withDiskErrors } from '../../oci/disk-errors.ts';
import { fileHolds } from '../../oci/file-digest.ts';
import type { OciLayout } from '../../oci/layout.ts';
import { withLayoutLock } from '../../oci/layout-lock.ts';
import type { Descriptor } from '../../oci/schema.ts';
import type { Storage } from '../../oci/store.ts';
import { retryTransient } from '../../oci/transient-retry.ts';
import { isUnlinkable } from '../../oci/shared-file.ts';
import { FramedBlobs, framedStream, type Frame } from './framed-blobs.ts';

/** Per-digest lock files under here: `locks/<hex>/.kart-index.lock`. */
export const LOCKS_DIR = '.kart-locks';

/** A download holds its lock for as long as the blob takes; a dead owner (same host) frees it at once. */
const BLOB_LOCK = { timeoutMs: 15 * 60_000, staleMs: 15 * 60_000 };

/**
 * The pull cache as a Storage, so that it can be the destination of a graph copy:
 * - `exists` trusts a stored blob only once it still hashes to its name; a damaged one is removed
 *   (with a notice) and so reads as missing, to be fetched again;
 * - `push` refuses in a read-only cache and stores under a lock per digest, so of several processes
 *   wanting the same blob one writes it; one that finds it stored meanwhile records that in
 *   `storedMeanwhile` (its caller reports the blob as coming from the cache);
 * - `fetch` reads from the cache's layout, or a layer kept framed around an installed file
 *   (framed-blobs.ts), verified as it is read either way.
 */
export class CacheStorage implements Storage {
  readonly root: string;
  readonly layout: OciLayout;
  readonly readOnly: boolean;
  readonly notices: string[];
  readonly framed: FramedBlobs;
  /** blobs another process stored while this one waited for their lock */
  readonly storedMeanwhile = new Set<Digest>();

  constructor(root: string, layout: OciLayout, readOnly: boolean, notices: string[]) {
    this.root = root;
    this.layout = layout;
    this.readOnly = readOnly;
    this.notices = notices;
    this.framed = new FramedBlobs(root);
  }

  /** Stored, whatever its bytes (for a blob this pull does not read). */
  async present(desc: Descriptor): Promise<boolean> {
    return (await this.layout.exists(desc)) || (await this.framed.has(desc));
  }

  async exists(desc: Descriptor): Promise<boolean> {
    return (await this.present(desc)) && (await this.#intact(desc));
  }

  async fetch(desc: Descriptor): Promise<Readable> {
    if (!(await this.layout.exists(desc))) {
      const framed = await this.framed.fetch(desc, `cache ${this.root} blob ${desc.digest}`);
      if (framed !== undefined) return framed;
    }
    return this.layout.fetch(desc);
  }

  async push(desc: Descriptor, content: Readable): Promise<void> {
    let opened = false;
    try {
      await this.pushFrom(desc, async () => ((opened = true), content), { retries: 0 });
    } finally {
      if (!opened) content.destroy();
    }
  }

  /**
   * Stores what `open` streams, opening it only once this process holds the digest's lock and the
   * blob is still missing (so concurrent pulls download each blob once). A transient failure opens
   * it again, up to `retries` times (default: retryTransient's).
   */
  async pushFrom(
    desc: Descriptor,
    open: () => Promise<Readable>,
    options: { retries?: number } = {},
  ): Promise<void> {
    if (this.readOnly) throw this.#readOnly(desc);
    await withLayoutLock(
      await this.#lockDir(desc),
      async () => {
        // Another process may have stored it while we waited for the lock.
        if (await this.present(desc)) {
          this.storedMeanwhile.add(desc.digest);
          return;
        }
        // The layout verifies size and digest while writing a temp file and renames it into blobs/
        // only when both match; a download cut beyond what the registry client resumes starts over.
        await withDiskErrors(this.root, () =>
          retryTransient(
            async () => this.layout.push(desc, await open()),
            options.retries === undefined ? {} : { retries: options.retries },
          ),
        );
      },
      BLOB_LOCK,
    );
  }

  /**
   * The cache as a copy's destination that downloads each blob once across processes: `exists`, for
   * a blob still missing, takes its lock and holds it until `push` has stored it (or `releaseAll`),
   * so the copy fetches it only while no other process can; a blob another process stored meanwhile
   * exists (and is in `storedMeanwhile`). `verifyStored: false` trusts a stored blob by its presence
   * (for blobs the caller does not read); `signal` stops a wait for another process's download.
   */
  claiming({
    verifyStored = true,
    signal,
  }: { verifyStored?: boolean; signal?: AbortSignal } = {}): Storage & {
    /** stores `desc` framed around the file at `dataPath`, under the lock `exists` took (#keepFramed) */
    pushFramed(desc: Descriptor, dataPath: string, frame: Frame): Promise<void>;
    releaseAll(): Promise<void>;
  } {
    const held = new Map<Digest, () => Promise<void>>();
    return {
      exists: async (desc) => {
        if (await (verifyStored ? this.exists(desc) : this.present(desc))) return true;
        if (this.readOnly) throw this.#readOnly(desc);
        const release = await this.#hold(desc, signal);
        if (await this.present(desc)) {
          this.storedMeanwhile.add(desc.digest);
          await release();
          return true;
        }
        held.set(desc.digest, release);
        return false;
      },
      fetch: (desc) => this.fetch(desc),
      push: async (desc, content) => {
        const release = held.get(desc.digest);
        if (release === undefined) return this.push(desc, content);
        await withDiskErrors(this.root, () => this.layout.push(desc, content));
        held.delete(desc.digest);
        await release();
      },
      pushFramed: async (desc, dataPath, frame) => {
        const release = held.get(desc.digest);
        if (release === undefined) throw new Error(`pushFramed(${desc.digest}) without its lock held`);
        await withDiskErrors(this.root, () => this.#keepFramed(desc, dataPath, frame));
        held.delete(desc.digest);
        await release();
      },
      releaseAll: async () => {
        for (const release of held.values()) await release();
        held.clear();
      },
    };
  }

  /**
   * Keeps a layer whose bytes are the file at `dataPath` between `frame.head` and `frame.tail` (an
   * installed file: the cache then shares its blocks). Where the filesystem cannot link it to the
   * cache (another filesystem, no hard links), the blob is stored whole from the same bytes instead.
   */
  async #keepFramed(desc: Descriptor, dataPath: string, frame: Frame): Promise<void> {
    try {
      await this.framed.store(desc, dataPath, frame);
      return;
    } catch (error) {
      if (!isUnlinkable(error)) throw error;
    }
    const content = await framedStream(dataPath, desc, frame, `${dataPath} (layer ${desc.digest})`);
    await this.layout.push(desc, content);
  }

  /** Takes the digest's lock and keeps it until the returned function is called. */
  async #hold(desc: Descriptor, signal?: AbortSignal): Promise<() => Promise<void>> {
    let release!: () => void;
    let acquired!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    const got = new Promise<void>((resolve) => (acquired = resolve));
    const holding = withLayoutLock(
      await this.#lockDir(desc),
      async () => {
        acquired();
        await released;
      },
      signal === undefined ? BLOB_LOCK : { ...BLOB_LOCK, signal },
    );
    await Promise.race([got, holding]);
    return async () => {
      release();
      await holding;
    };
  }

  async #lockDir(desc: Descriptor): Promise<string> {
    const lockDir = join(this.root, LOCKS_DIR, digestHex(desc.digest));
    await mkdir(lockDir, { recursive: true });
    return lockDir;
  }

  #readOnly(desc: Descriptor): KartError {
    return new KartError(
      'CACHE_READ_ONLY',
      `cache ${this.root} is read-only and does not hold ${desc.digest} (${desc.mediaType})`,
      {
        exitCode: 2,
        hint: 'pass a writable --cache, or fill this cache from a writable mount first',
        details: { digest: desc.digest },
      },
    );
  }

  /** Whether the stored blob still hashes to its digest; a damaged one is removed (when it can be). */
  async #intact(desc: Descriptor): Promise<boolean> {
    if (await this.#holds(desc)) return true;
    await this.removeDamaged(desc);
    return false;
  }

  /** The blob as stored (whole, else framed) reads back as `desc`'s bytes. */
  async #holds(desc: Descriptor): Promise<boolean> {
    if (await this.layout.exists(desc)) return this.#wholeHolds(desc);
    return this.framed.holds(desc);
  }

  #wholeHolds(desc: Descriptor): Promise<boolean> {
    return fileHolds(this.layout.blobPath(desc.digest), desc);
  }

  /**
   * A stored blob found not to hash to its digest (here, or by a reader as it went by) is removed,
   * with a notice, to be fetched again; in a read-only cache that is CACHE_CORRUPT.
   */
  async removeDamaged(desc: Descriptor): Promise<void> {
    const path = this.layout.blobPath(desc.digest);
    if (this.readOnly) {
      throw new KartError(
        'CACHE_CORRUPT',
        `cache ${this.root}: blob ${desc.digest} is damaged, and the cache is read-only so it cannot be replaced`,
        { exitCode: 1, hint: `remove ${path} from a writable mount, or pass another --cache` },
      );
    }
    // Under the digest's lock, and only if still damaged: another process may have just stored a good
    // copy under the same name (after its own pull counted on it).
    await withLayoutLock(
      await this.#lockDir(desc),
      async () => {
        // Each form on its own: a damaged whole copy does not take an intact framed one with it.
        let removed = false;
        if ((await this.layout.exists(desc)) && !(await this.#wholeHolds(desc))) {
          await unlink(path).catch(() => undefined);
          removed = true;
        }
        if ((await this.framed.has(desc)) && !(await this.framed.holds(desc))) {
          await this.framed.remove(desc.digest);
          removed = true;
        }
        if (!removed) return;
        this.notices.push(`cache ${this.root}: blob ${desc.digest} was damaged; removed and fetched again`);
      },
      BLOB_LOCK,
    );
  }
}
