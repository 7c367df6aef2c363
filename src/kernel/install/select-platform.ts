import { KartError } from '../../errors.ts';
import {
  ImageIndexSchema,
  isImageManifestMediaType,
  isIndexMediaType,
  parseJson,
  type Descriptor,
  type Target,
} from '../../oci/index.ts';
import type { OciKernelArch } from '../artifact/kernel-platform.ts';
import { readVerifiedDocument } from './manifest-bytes.ts';

/**
 * Tag (or digest) → the platform manifest for one architecture: an index is searched for its
 * linux/<arch> entry (attestation entries, platform unknown/unknown, are never chosen); a bare manifest
 * is taken as it is and its config's architecture is checked by the install.
 */
export interface KernelManifestChoice {
  manifest: Descriptor;
  /** the index the tag names, when it names one */
  index?: Descriptor;
  /** the platforms the index offers (for messages and inspect) */
  platforms: string[];
}

export async function selectKernelManifest(
  target: Target,
  reference: string,
  arch: OciKernelArch,
): Promise<KernelManifestChoice> {
  const root = await target.resolve(reference);
  if (isImageManifestMediaType(root.mediaType)) return { manifest: root, platforms: [] };
  if (!isIndexMediaType(root.mediaType)) {
    throw new KartError(
      'MANIFEST_UNSUPPORTED',
      `${target.name}:${reference} is a ${root.mediaType}, not an image index or manifest`,
      {
        exitCode: 1,
        hint: 'a kernel image is an OCI (or Docker v2) image index or manifest',
      },
    );
  }
  const bytes = await readVerifiedDocument(target, root, 'index');
  const index = parseJson(ImageIndexSchema, bytes, `${target.name}:${reference} index ${root.digest}`);
  const platforms = index.manifests
    .filter((entry) => entry.platform !== undefined && entry.platform.os !== 'unknown')
    .map((entry) => `${entry.platform?.os}/${entry.platform?.architecture}`);
  const chosen = index.manifests.find(
    (entry) =>
      entry.platform?.os === 'linux' &&
      entry.platform.architecture === arch &&
      isImageManifestMediaType(entry.mediaType),
  );
  if (chosen === undefined) {
    throw new KartError(
      'PLATFORM_NOT_FOUND',
      `${target.name}:${reference} has no linux/${arch} kernel; it has ${platforms.length > 0 ? platforms.join(', ') : 'no platforms'}`,
      { exitCode: 1, hint: 'choose one of its platforms with --arch', details: { platforms } },
    );
  }
  return { manifest: chosen, index: root, platforms };
}
