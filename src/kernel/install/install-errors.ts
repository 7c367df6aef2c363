import { KartError } from '../../errors.ts';
import { MediaType } from '../../oci/media-types.ts';
import type { Descriptor } from '../../oci/schema.ts';

/**
 * Errors of the install core. A refused layer entry is a verification failure (exit 1): the image is
 * not what a kernel image may be, and nothing of it was installed. Every message names the entry, the
 * layer, and why, so whoever published the image can find and fix it.
 */
export function entryRefused(layer: string, entry: string, why: string): KartError {
  return new KartError('LAYER_ENTRY_REFUSED', `layer ${layer}: entry "${entry}" refused: ${why}`, {
    exitCode: 1,
    hint: 'the image holds an entry a kernel image never needs; nothing was installed and the destination is unchanged',
    details: { layer, entry, reason: why },
  });
}

export function kernelImageInvalid(what: string, hint: string, details?: Record<string, unknown>): KartError {
  return new KartError('KERNEL_ARTIFACT_INVALID', what, {
    exitCode: 1,
    hint: `${hint}; nothing was installed and the destination is unchanged`,
    ...(details === undefined ? {} : { details }),
  });
}

/**
 * image-spec: a config of a media type one does not know MUST NOT be parsed. An OCI artifact (ORAS,
 * Helm, a Kata cache) has some other config type: it is not a kernel image, which is a verification
 * outcome (exit 1), not a usage error.
 */
export function requireImageConfig(config: Descriptor, where: string): void {
  if (config.mediaType === MediaType.OciConfig || config.mediaType === MediaType.DockerConfig) return;
  throw kernelImageInvalid(
    `${where} has a config of type ${config.mediaType}, not an image config: it is an OCI artifact, not a kernel image`,
    'point kart at a kernel image (its manifest config is application/vnd.oci.image.config.v1+json)',
    { mediaType: config.mediaType },
  );
}
