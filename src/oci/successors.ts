import { fetchManifest, parseManifestBytes, type FetchedManifest } from './manifest-io.ts';
import { isManifestMediaType } from './media-types.ts';
import type { Descriptor } from './schema.ts';
import type { Fetcher } from './store.ts';

/**
 * The one definition of a node's children in a content graph (oras-go's content.Successors): an
 * index's manifests, a manifest's config then layers, nothing for a blob. A manifest's `subject`
 * points up (a referrer names what it is about), so it is not a child: copying a signature does not
 * copy the image, and collecting an image's blobs does not keep its signatures. Copy, referrers copy,
 * the cache's GC and the tests' graph walkers all ask this.
 */
export function successors(fetched: FetchedManifest): Descriptor[] {
  if (fetched.kind === 'index') return fetched.index.manifests;
  return [fetched.manifest.config, ...fetched.manifest.layers];
}

/** The children of `desc` from its bytes already in hand (parsed here; a damaged document throws). */
export function successorsOfBytes(desc: Descriptor, bytes: Buffer): Descriptor[] {
  return isManifestMediaType(desc.mediaType) ? successors(parseManifestBytes(desc, bytes)) : [];
}

/** The children of `desc` in `store`, fetching the document when `desc` is a manifest or index. */
export async function fetchSuccessors(store: Fetcher, desc: Descriptor): Promise<Descriptor[]> {
  if (!isManifestMediaType(desc.mediaType)) return [];
  return successors(await fetchManifest(store, desc));
}
