import { descriptorOf } from '../oci/manifest-io.ts';
import { MediaType } from '../oci/media-types.ts';
import type { Descriptor } from '../oci/schema.ts';
import { SignatureAnnotation, SigstoreType } from './signature-types.ts';

/** The OCI empty config `{}` (image-spec's `application/vnd.oci.empty.v1+json`). */
export const EMPTY_CONFIG = Buffer.from('{}', 'utf8');

/**
 * The referrer manifest cosign 3 writes for a bundle (COSIGN pkg/oci/remote/write.go, referrerManifest):
 * artifactType on the manifest and inside the config descriptor, the empty config, one layer holding
 * the bundle, the subject, and the three annotations. Fields in cosign's order, so a reader sees the
 * same document shape.
 */
export function signatureManifest(
  subject: Descriptor,
  bundle: Descriptor,
  created: Date,
): { descriptor: Descriptor; bytes: Buffer } {
  const manifest = {
    schemaVersion: 2,
    mediaType: MediaType.OciManifest,
    artifactType: SigstoreType.BundleV03,
    config: {
      ...descriptorOf(EMPTY_CONFIG, MediaType.OciEmpty),
      artifactType: SigstoreType.BundleV03,
    },
    layers: [bundle],
    subject: { mediaType: subject.mediaType, digest: subject.digest, size: subject.size },
    annotations: {
      [SignatureAnnotation.BundleContent]: 'dsse-envelope',
      [SignatureAnnotation.BundlePredicateType]: SigstoreType.CosignSignPredicate,
      [SignatureAnnotation.Created]: created.toISOString().replace(/\.\d{3}Z$/, 'Z'),
    },
  };
  const bytes = Buffer.from(JSON.stringify(manifest), 'utf8');
  return { descriptor: descriptorOf(bytes, MediaType.OciManifest), bytes };
}
