import { isDigest, type Digest } from './digest.ts';
import { KartError } from '../errors.ts';
import {
  array,
  checkShape,
  int,
  literal,
  looseObject,
  optional,
  record,
  refine,
  string,
  type Infer,
  type Shape,
} from './json-shape.ts';

/**
 * Shapes of the OCI documents kart reads from outside (image-spec v1.1, plus the Docker v2
 * equivalents), checked by json-shape.ts. Unknown fields are kept (loose objects) because manifests are
 * stored byte-for-byte and the spec says unknown fields must be ignored, not rejected.
 */
export const DigestSchema: Shape<Digest> = refine(string(), isDigest, 'not a valid digest');

export const PlatformSchema = looseObject({
  architecture: string(),
  os: string(),
  'os.version': optional(string()),
  'os.features': optional(array(string())),
  variant: optional(string()),
});
export type Platform = Infer<typeof PlatformSchema>;

const Annotations = record(string());

export const DescriptorSchema = looseObject({
  mediaType: refine(string(), (s) => s.length > 0, 'Too small: expected string to have >=1 characters'),
  digest: DigestSchema,
  // JSON numbers beyond 2^53 lose precision in JS: int() refuses them rather than silently round.
  size: int({ min: 0 }),
  urls: optional(array(string())),
  annotations: optional(Annotations),
  data: optional(string()),
  platform: optional(PlatformSchema),
  artifactType: optional(string()),
});
export type Descriptor = Infer<typeof DescriptorSchema>;

/** Just what names content (media type, digest, size): no platform, annotations or artifact type. */
export function plainDescriptor(desc: Descriptor): Descriptor {
  return { mediaType: desc.mediaType, digest: desc.digest, size: desc.size };
}

export const ImageManifestSchema = looseObject({
  schemaVersion: literal(2),
  mediaType: optional(string()),
  artifactType: optional(string()),
  config: DescriptorSchema,
  layers: array(DescriptorSchema),
  subject: optional(DescriptorSchema),
  annotations: optional(Annotations),
});
export type ImageManifest = Infer<typeof ImageManifestSchema>;

export const ImageIndexSchema = looseObject({
  schemaVersion: literal(2),
  mediaType: optional(string()),
  artifactType: optional(string()),
  manifests: array(DescriptorSchema),
  subject: optional(DescriptorSchema),
  annotations: optional(Annotations),
});
export type ImageIndex = Infer<typeof ImageIndexSchema>;

export const ImageConfigSchema = looseObject({
  architecture: string(),
  os: string(),
  variant: optional(string()),
  created: optional(string()),
  rootfs: optional(looseObject({ type: string(), diff_ids: array(DigestSchema) })),
  config: optional(looseObject({})),
});
export type ImageConfig = Infer<typeof ImageConfigSchema>;

/**
 * Parses JSON bytes with a schema; a failure is a KartError naming `where` and the first bad field,
 * so a user sees "manifest sha256:…: layers.2.size: Invalid input: expected number, received string", not a stack trace.
 */
export function parseJson<T>(schema: Shape<T>, bytes: Uint8Array | string, where: string): T {
  let value: unknown;
  try {
    value = JSON.parse(typeof bytes === 'string' ? bytes : Buffer.from(bytes).toString('utf8'));
  } catch (error) {
    throw new KartError('JSON_INVALID', `${where}: not valid JSON (${(error as Error).message})`, {
      hint: 'the document is corrupt or is not what its media type says',
    });
  }
  const result = checkShape(schema, value);
  if (!result.ok) {
    throw new KartError('SCHEMA_INVALID', `${where}: ${result.mismatch.where}: ${result.mismatch.reason}`, {
      hint: 'the document does not follow the OCI image specification',
    });
  }
  return result.value;
}
