import { KartError } from '../../errors.ts';
import {
  ImageConfigSchema,
  ImageIndexSchema,
  MediaType,
  isImageManifestMediaType,
  isIndexMediaType,
  parseJson,
  type Descriptor,
  type ImageIndex,
  type Target,
} from '../../oci/index.ts';
import { descriptorOf, fetchBytes, fetchManifest } from '../../oci/manifest-io.ts';
import { resolveIfPresent } from '../../oci/resolve-if-present.ts';

/**
 * A tag's multi-arch index, as pack and publish both see it: the platform entries it holds now, and
 * the index that results from putting one platform manifest into it. Pure merging is kept apart from
 * the reading so the merge rule (replace the same platform in place, append a new one, never drop
 * another) is testable on its own.
 */
export interface TagIndexState {
  /** What the tag names now; undefined when the tag does not exist. */
  root: Descriptor | undefined;
  /** Its platform entries (a bare manifest under the tag counts as one entry). */
  entries: Descriptor[];
}

export interface MergedIndex {
  descriptor: Descriptor;
  bytes: Buffer;
  index: ImageIndex;
}

/** Whether two platform entries are for the same os/architecture/variant. */
export function samePlatform(a: Descriptor, b: Descriptor): boolean {
  return (
    a.platform?.os === b.platform?.os &&
    a.platform?.architecture === b.platform?.architecture &&
    a.platform?.variant === b.platform?.variant
  );
}

/**
 * `entries` with `entry` in it: the same platform is replaced where it stands (so an unchanged
 * publish gives byte-identical JSON and the same digest), a new platform is appended, every other
 * entry is kept as it was.
 */
export function mergePlatformEntry(entries: readonly Descriptor[], entry: Descriptor): MergedIndex {
  const manifests = [...entries];
  const at = manifests.findIndex((e) => samePlatform(e, entry));
  if (at === -1) manifests.push(entry);
  else manifests[at] = entry;
  const index: ImageIndex = { schemaVersion: 2, mediaType: MediaType.OciIndex, manifests };
  const bytes = Buffer.from(JSON.stringify(index), 'utf8');
  return { descriptor: descriptorOf(bytes, MediaType.OciIndex), bytes, index };
}

/** Whether an index's entries hold exactly this platform manifest. */
export function holdsEntry(entries: readonly Descriptor[], entry: Descriptor): boolean {
  return entries.some((e) => samePlatform(e, entry) && e.digest === entry.digest);
}

/** The entry for `entry`'s platform, if the index has one. */
export function entryForPlatform(entries: readonly Descriptor[], entry: Descriptor): Descriptor | undefined {
  return entries.find((e) => samePlatform(e, entry));
}

/** Reads the tag's index (or the bare manifest under it) into platform entries. */
export async function readTagIndex(target: Target, tag: string): Promise<TagIndexState> {
  const root = await resolveIfPresent(target, tag);
  if (root === undefined) return { root, entries: [] };
  if (isIndexMediaType(root.mediaType)) {
    const index = parseJson(ImageIndexSchema, await fetchBytes(target, root), `${target.name}:${tag} index`);
    return { root, entries: [...index.manifests] };
  }
  if (isImageManifestMediaType(root.mediaType)) {
    // A single-arch image pushed by another tool: it becomes its platform's entry of the new index.
    const fetched = await fetchManifest(target, root);
    if (fetched.kind === 'manifest') {
      const config = parseJson(
        ImageConfigSchema,
        await fetchBytes(target, fetched.manifest.config),
        `${target.name}:${tag} config`,
      );
      const entry: Descriptor = {
        mediaType: root.mediaType,
        digest: root.digest,
        size: root.size,
        platform: { architecture: config.architecture, os: config.os },
      };
      return { root, entries: [entry] };
    }
  }
  throw new KartError(
    'TAG_NOT_AN_IMAGE',
    `${target.name}:${tag} names a ${root.mediaType}, not an image index or manifest, so a platform cannot be merged into it`,
    {
      exitCode: 2,
      hint: 'use other tags, or remove that tag from the repository first',
      details: { tag, mediaType: root.mediaType },
    },
  );
}
