import { KartError } from '../errors.ts';
import { digestAlgorithm, digestHex, type Digest } from '../oci/digest.ts';
import { MediaType } from '../oci/media-types.ts';
import { ImageIndexSchema, parseJson, type Descriptor, type ImageIndex } from '../oci/schema.ts';

/**
 * Referrers (artifacts attached to a manifest through `subject`): the referrers API first; a 404 from
 * it means the registry has none, and clients fall back to an image index stored under the tag
 * `<alg>-<hex>` (distribution-spec "referrers tag schema"), which pushers keep up to date.
 */

/** The fallback tag: `<alg[:32]>-<encoded[:64]>`, characters a tag may not hold replaced by `-`. */
export function referrersTag(subject: Digest): string {
  const clean = (s: string) => s.replace(/[^a-zA-Z0-9._-]/g, '-');
  return `${clean(digestAlgorithm(subject).slice(0, 32))}-${clean(digestHex(subject).slice(0, 64))}`;
}

/**
 * cosign's pre-referrers signature tag, `sha256-<hex>.sig`: an image of simple-signing layers that
 * older cosign (and `cosign sign --registry-referrers-mode=legacy`) writes beside the signed digest.
 */
export function legacySignatureTag(subject: Digest): string {
  return `${referrersTag(subject)}.sig`;
}

/** What a referrers index lists for one manifest: artifactType (else config type) and annotations. */
export function referrerDescriptor(manifestDesc: Descriptor, manifestBytes: Buffer): Descriptor {
  const manifest = JSON.parse(manifestBytes.toString('utf8')) as {
    artifactType?: string;
    config?: { mediaType?: string };
    annotations?: Record<string, string>;
  };
  const artifactType = manifest.artifactType ?? manifest.config?.mediaType;
  return {
    mediaType: manifestDesc.mediaType,
    digest: manifestDesc.digest,
    size: manifestDesc.size,
    ...(artifactType ? { artifactType } : {}),
    ...(manifest.annotations ? { annotations: manifest.annotations } : {}),
  };
}

export function emptyReferrersIndex(): ImageIndex {
  return { schemaVersion: 2, mediaType: MediaType.OciIndex, manifests: [] };
}

export function parseReferrersIndex(bytes: Buffer | string, where: string): ImageIndex {
  const index = parseJson(ImageIndexSchema, bytes, where);
  if (index.mediaType !== undefined && index.mediaType !== MediaType.OciIndex) {
    throw new KartError(
      'REFERRERS_INVALID',
      `${where}: referrers must be an OCI image index, got ${index.mediaType}`,
      {
        exitCode: 3,
        hint: 'the referrers tag holds something else; it was not written by an OCI client',
      },
    );
  }
  return index;
}

export function withReferrer(index: ImageIndex, desc: Descriptor): ImageIndex {
  return { ...index, manifests: [...index.manifests.filter((m) => m.digest !== desc.digest), desc] };
}

export function withoutReferrer(index: ImageIndex, digest: Digest): ImageIndex {
  return { ...index, manifests: index.manifests.filter((m) => m.digest !== digest) };
}
