import { readFile } from 'node:fs/promises';
import { isImageManifestMediaType, isIndexMediaType } from '../../oci/media-types.ts';
import { ImageIndexSchema, ImageManifestSchema, parseJson, type Descriptor } from '../../oci/schema.ts';
import type { Digest } from '../../oci/digest.ts';
import type { OciLayout } from '../../oci/layout.ts';

/**
 * The blobs a root (index or manifest) reaches in the cache, as far as they are stored: an index's
 * manifests, a manifest's config and layers. A missing or unreadable document ends that branch; it is
 * never an error here (the cache may hold one platform of a multi-platform index).
 */
export async function reachableBlobs(
  layout: OciLayout,
  roots: Iterable<Descriptor>,
): Promise<Map<Digest, number>> {
  const seen = new Map<Digest, number>();
  const pending = [...roots];
  while (pending.length > 0) {
    const desc = pending.pop() as Descriptor;
    if (seen.has(desc.digest) || !(await layout.exists(desc))) continue;
    seen.set(desc.digest, desc.size);
    if (!isIndexMediaType(desc.mediaType) && !isImageManifestMediaType(desc.mediaType)) continue;
    let bytes: Buffer;
    try {
      bytes = await readFile(layout.blobPath(desc.digest));
    } catch {
      continue;
    }
    try {
      if (isIndexMediaType(desc.mediaType)) {
        pending.push(...parseJson(ImageIndexSchema, bytes, desc.digest).manifests);
      } else {
        const manifest = parseJson(ImageManifestSchema, bytes, desc.digest);
        pending.push(manifest.config, ...manifest.layers);
      }
    } catch {
      // A damaged document reaches nothing; `kart cache verify` reports it.
    }
  }
  return seen;
}
