import { readdir, stat, unlink } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { KartError } from '../../errors.ts';
import { isDigest, type Digest } from '../../oci/digest.ts';
import { digestFile } from '../../oci/file-digest.ts';
import { withLayoutLock } from '../../oci/layout-lock.ts';
import type { Descriptor } from '../../oci/schema.ts';
import { reachableBlobs } from './cache-graph.ts';
import type { CacheStorage } from './cache-storage.ts';
import { FramedBlobs } from './framed-blobs.ts';
import { openExistingCache, removeDeadTempFiles } from './kernel-cache.ts';
import { runningPullRoots } from './pull-records.ts';
import { readRefs, REFS_FILE_NAME, type CachedRoot } from './refs-file.ts';
import { listSignatureRecords, removeSignatureRecord, type SignatureRecord } from './signature-records.ts';
import { writeFileAtomic } from '../../oci/atomic-file.ts';

/** `kart cache ls|verify|prune` as library functions over a cache directory. */

export interface CacheListing {
  cache: string;
  references: {
    reference: string;
    /** what --offline installs */
    pulled: CachedRoot | null;
    /** root digests seen, newest first */
    history: CachedRoot[];
    /** bytes of stored blobs reachable from the pulled (else newest) root */
    size: number;
  }[];
  blobs: number;
  totalSize: number;
}

export async function listCache(dir: string): Promise<CacheListing> {
  const cache = await openExistingCache(dir);
  if (cache === undefined) return { cache: resolve(dir), references: [], blobs: 0, totalSize: 0 };
  const refs = await readRefs(cache.root);
  const references = [];
  for (const [reference, entry] of Object.entries(refs.references).sort(([a], [b]) => a.localeCompare(b))) {
    const root = entry.pulled ?? entry.history[0];
    const reached = root === undefined ? new Map() : await reachableBlobs(cache.storage, [root]);
    references.push({
      reference,
      pulled: entry.pulled ?? null,
      history: entry.history,
      size: [...reached.values()].reduce((sum: number, size: number) => sum + size, 0),
    });
  }
  const blobs = await storedBlobs(cache.root);
  return {
    cache: cache.root,
    references,
    blobs: blobs.length,
    totalSize: blobs.reduce((sum, blob) => sum + blob.size, 0),
  };
}

export interface CacheVerifyReport {
  cache: string;
  checked: number;
  /** blobs whose content did not hash to their name; each was deleted (the next pull fetches it again) */
  corrupt: { digest: Digest; actual: Digest | 'unreadable'; size: number }[];
  ok: boolean;
}

/**
 * Re-hashes every blob. A corrupt blob is removed, so no later pull or --offline install can read it
 * (a pull downloads it again); the report names it and `ok` is false.
 */
export async function verifyCache(dir: string): Promise<CacheVerifyReport> {
  const cache = await openExistingCache(dir);
  if (cache === undefined) return { cache: resolve(dir), checked: 0, corrupt: [], ok: true };
  const corrupt: CacheVerifyReport['corrupt'] = [];
  const blobs = await storedBlobs(cache.root);
  for (const blob of blobs) {
    const actual = await blob.hash();
    if (actual !== blob.digest) {
      corrupt.push({ digest: blob.digest, actual: actual ?? 'unreadable', size: blob.size });
      await blob.remove();
    }
  }
  return { cache: cache.root, checked: blobs.length, corrupt, ok: corrupt.length === 0 };
}

export interface CachePruneReport {
  cache: string;
  keep: number;
  removed: { digest: Digest; size: number }[];
  freed: number;
  kept: number;
}

/**
 * Keeps, per reference, the `keep` most recent root digests (and the last pulled one, which --offline
 * needs), the root of every pull still running, and every blob they reach; deletes every other blob
 * and forgets the older digests. Runs under the cache lock that a pull takes to record its root before
 * fetching any blob (pull-records.ts), so a pull in progress never loses a blob it stored or is about
 * to use, even with `--keep 0`. Temp files of downloads whose process is gone are removed too, and the
 * records of pulls that were killed; lock directories stay (a pull may be about to use one).
 */
export async function pruneCache(dir: string, keep = 1): Promise<CachePruneReport> {
  if (!Number.isInteger(keep) || keep < 0) {
    throw new KartError('KEEP_INVALID', `--keep ${keep}: not a whole number of at least 0`, {
      hint: 'pass e.g. --keep 2 to keep the two most recent digests of each reference',
    });
  }
  const cache = await openExistingCache(dir);
  if (cache === undefined) return { cache: resolve(dir), keep, removed: [], freed: 0, kept: 0 };
  return withLayoutLock(cache.root, async () => {
    const refs = await readRefs(cache.root);
    const roots: CachedRoot[] = [];
    for (const entry of Object.values(refs.references)) {
      entry.history = entry.history.slice(0, keep);
      if (entry.pulled && !entry.history.some((root) => root.digest === entry.pulled?.digest)) {
        entry.history.push(entry.pulled);
      }
      roots.push(...entry.history);
    }
    const running = await runningPullRoots(cache.root);
    const index = await cache.layout.readIndex();
    const kept = [...roots, ...running, ...index.manifests];
    const reached = await keptWithSignatures(cache.storage, kept, await listSignatureRecords(cache.root));
    const removed: CachePruneReport['removed'] = [];
    for (const blob of await storedBlobs(cache.root)) {
      if (reached.has(blob.digest)) continue;
      await blob.remove();
      removed.push({ digest: blob.digest, size: blob.size });
    }
    await writeFileAtomic(join(cache.root, REFS_FILE_NAME), `${JSON.stringify(refs, null, 2)}\n`);
    await removeDeadTempFiles(cache.root);
    return {
      cache: cache.root,
      keep,
      removed,
      freed: removed.reduce((sum, blob) => sum + blob.size, 0),
      kept: reached.size,
    };
  });
}

/**
 * What `kept` reaches, plus the signatures recorded for a kept subject (pull -k --offline --verify-key
 * checks them again from these blobs); the record of a subject no longer kept goes with it.
 */
async function keptWithSignatures(
  storage: CacheStorage,
  kept: readonly Descriptor[],
  records: readonly SignatureRecord[],
): Promise<Map<Digest, number>> {
  const reached = await reachableBlobs(storage, kept);
  const signatures: Descriptor[] = [];
  for (const record of records) {
    if (record.subject !== undefined && reached.has(record.subject.digest)) {
      signatures.push(...record.signatures.map((s) => s.manifest));
    } else {
      await removeSignatureRecord(record);
    }
  }
  for (const [digest, size] of await reachableBlobs(storage, signatures)) reached.set(digest, size);
  return reached;
}

/** A blob the cache holds: whole under blobs/, or framed around an installed file (framed-blobs.ts). */
interface StoredBlob {
  digest: Digest;
  size: number;
  /** what its bytes hash to now (undefined when they cannot be read) */
  hash(): Promise<Digest | undefined>;
  remove(): Promise<void>;
}

async function storedBlobs(root: string): Promise<StoredBlob[]> {
  const blobs: StoredBlob[] = [];
  const blobsDir = join(root, 'blobs');
  for (const algorithm of await readdir(blobsDir).catch(() => [] as string[])) {
    for (const hex of await readdir(join(blobsDir, algorithm))) {
      const digest = `${algorithm}:${hex}`;
      if (!isDigest(digest)) continue;
      const path = join(blobsDir, algorithm, hex);
      const info = await stat(path);
      if (!info.isFile()) continue;
      blobs.push({
        digest,
        size: info.size,
        hash: async () => (await digestFile(path, algorithm).catch(() => undefined))?.digest,
        remove: () => unlink(path).catch(() => undefined),
      });
    }
  }
  const framed = new FramedBlobs(root);
  for (const blob of await framed.list()) {
    blobs.push({
      digest: blob.digest,
      size: blob.size,
      hash: async () => (await framed.digestOf(blob.digest))?.digest,
      remove: () => framed.remove(blob.digest),
    });
  }
  return blobs.sort((a, b) => a.digest.localeCompare(b.digest));
}
