import { z } from 'zod';
import { isDigest, type Digest } from './digest.ts';
import { KartError } from '../errors.ts';

/**
 * zod schemas for the OCI documents kart reads from outside (image-spec v1.1, plus the Docker v2
 * equivalents). Unknown fields are kept (loose objects) because manifests are stored byte-for-byte and
 * the spec says unknown fields must be ignored, not rejected.
 */
export const DigestSchema = z
  .string()
  .refine(isDigest, 'not a valid digest')
  .transform((d) => d as Digest);

export const PlatformSchema = z.looseObject({
  architecture: z.string(),
  os: z.string(),
  'os.version': z.string().optional(),
  'os.features': z.array(z.string()).optional(),
  variant: z.string().optional(),
});
export type Platform = z.infer<typeof PlatformSchema>;

const Annotations = z.record(z.string(), z.string());

export const DescriptorSchema = z.looseObject({
  mediaType: z.string().min(1),
  digest: DigestSchema,
  // JSON numbers beyond 2^53 lose precision in JS: refuse rather than silently round.
  size: z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER),
  urls: z.array(z.string()).optional(),
  annotations: Annotations.optional(),
  data: z.string().optional(),
  platform: PlatformSchema.optional(),
  artifactType: z.string().optional(),
});
export type Descriptor = z.infer<typeof DescriptorSchema>;

/** Just what names content (media type, digest, size): no platform, annotations or artifact type. */
export function plainDescriptor(desc: Descriptor): Descriptor {
  return { mediaType: desc.mediaType, digest: desc.digest, size: desc.size };
}

export const ImageManifestSchema = z.looseObject({
  schemaVersion: z.literal(2),
  mediaType: z.string().optional(),
  artifactType: z.string().optional(),
  config: DescriptorSchema,
  layers: z.array(DescriptorSchema),
  subject: DescriptorSchema.optional(),
  annotations: Annotations.optional(),
});
export type ImageManifest = z.infer<typeof ImageManifestSchema>;

export const ImageIndexSchema = z.looseObject({
  schemaVersion: z.literal(2),
  mediaType: z.string().optional(),
  artifactType: z.string().optional(),
  manifests: z.array(DescriptorSchema),
  subject: DescriptorSchema.optional(),
  annotations: Annotations.optional(),
});
export type ImageIndex = z.infer<typeof ImageIndexSchema>;

export const ImageConfigSchema = z.looseObject({
  architecture: z.string(),
  os: z.string(),
  variant: z.string().optional(),
  created: z.string().optional(),
  rootfs: z.looseObject({ type: z.string(), diff_ids: z.array(DigestSchema) }).optional(),
  config: z.looseObject({}).optional(),
});
export type ImageConfig = z.infer<typeof ImageConfigSchema>;

/**
 * Parses JSON bytes with a schema; a failure is a KartError naming `where` and the first bad field,
 * so a user sees "manifest sha256:…: layers[2].size: expected number", not a stack trace.
 */
export function parseJson<T>(schema: z.ZodType<T>, bytes: Uint8Array | string, where: string): T {
  let value: unknown;
  try {
    value = JSON.parse(typeof bytes === 'string' ? bytes : Buffer.from(bytes).toString('utf8'));
  } catch (error) {
    throw new KartError('JSON_INVALID', `${where}: not valid JSON (${(error as Error).message})`, {
      hint: 'the document is corrupt or is not what its media type says',
    });
  }
  const result = schema.safeParse(value);
  if (!result.success) {
    const issue = result.error.issues[0];
    const path = issue && issue.path.length > 0 ? issue.path.join('.') : '(root)';
    throw new KartError('SCHEMA_INVALID', `${where}: ${path}: ${issue?.message ?? 'invalid'}`, {
      hint: 'the document does not follow the OCI image specification',
    });
  }
  return result.data;
}
