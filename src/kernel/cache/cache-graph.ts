import { readFile } from 'node:fs/promises';
import { isManifestMediaType } from '../../oci/media-types.ts';
import type { Descriptor } from '../../oci/schema.ts';
import { successorsOfBytes } from '../../oci/successors.ts';
import type { Digest } from '../../oci/digest.ts';
import type { CacheStorage } from './cache-storage.ts';

/**
 * The blobs a root (index or manifest) reaches in the cache, as far as they are stored (whole, or a
 * layer framed around an installed file): an index's manifests, a manifest's config and layers. A
 * missing or unreadable document ends that branch; it is never an error here (the cache may hold one
 * platform of a multi-platform index).
 */
export async function reachableBlobs(
  storage: CacheStorage,
  roots: Iterable<Descriptor>,
): Promise<Map<Digest, number>> {
  const layout = storage.layout;
  const seen = new Map<Digest, number>();
  const pending = [...roots];
  while (pending.length > 0) {
    const desc = pending.pop() as Descriptor;
    if (seen.has(desc.digest) || !(await storage.present(desc))) continue;
    seen.set(desc.digest, desc.size);
    if (!isManifestMediaType(desc.mediaType)) continue;
    let bytes: Buffer;
    try {
      bytes = await readFile(layout.blobPath(desc.digest));
    } catch {
      continue;
    }
    try {
      pending.push(...successorsOfBytes(desc, bytes));
    } catch {
      // A damaged document reaches nothing; `kart cache verify` reports it.
    }
  }
  return seen;
}
