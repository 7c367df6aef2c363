/** The pull cache: an OCI layout plus refs.json, with per-blob cross-process locks (kart cache). */
export { defaultCacheDir } from './cache-dir.ts';
export {
  openKernelCache,
  LOCKS_DIR,
  type KernelCache,
  type EnsureOptions,
  type PullInProgress,
} from './kernel-cache.ts';
export { PULLS_DIR } from './pull-records.ts';
export { REFS_FILE_NAME, type CachedRoot, type CachedReference, type Refs } from './refs-file.ts';
export { reachableBlobs } from './cache-graph.ts';
export {
  listCache,
  verifyCache,
  pruneCache,
  type CacheListing,
  type CacheVerifyReport,
  type CachePruneReport,
} from './cache-maintenance.ts';
