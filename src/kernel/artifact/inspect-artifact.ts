import { KartError } from '../../errors.ts';
import {
  ImageConfigSchema,
  isImageManifestMediaType,
  MediaType,
  parseJson,
  type Descriptor,
  type Digest,
  type Target,
} from '../../oci/index.ts';
import { fetchBytes, fetchManifest } from '../../oci/manifest-io.ts';
import { annotatedLayerFile, layerFiles } from './layer-files.ts';
import { MAX_METADATA_BYTES, parseKernelMetadata, type ParsedKernelMetadata } from './metadata.ts';

/**
 * What a kernel image holds, read through any Target (a layout or a registry repository): for each
 * platform, the manifest digest, its annotations, each layer's files (layerFiles: its annotation,
 * else its tar headers) with the layer's size and digest, and the parsed kernel/metadata. Of an
 * annotated image only the metadata layer is downloaded; a layer without annotations is read through
 * (headers only kept).
 */
export interface InspectedFile {
  /** the layer's files joined with ", " (one for kart's layers), or `(layer N)` when it holds none */
  path: string;
  paths: string[];
  mediaType: string;
  size: number;
  digest: Digest;
}

export interface InspectedPlatform {
  platform: string;
  manifest: Descriptor;
  annotations: Record<string, string>;
  files: InspectedFile[];
  metadata?: ParsedKernelMetadata;
}

export interface InspectedArtifact {
  reference: string;
  /** the descriptor the reference resolves to (an index or a manifest) */
  root: Descriptor;
  platforms: InspectedPlatform[];
}

export async function inspectKernelArtifact(target: Target, reference: string): Promise<InspectedArtifact> {
  const root = await target.resolve(reference);
  const top = await fetchManifest(target, root);
  const entries =
    top.kind === 'index'
      ? top.index.manifests.filter(
          (entry) => isImageManifestMediaType(entry.mediaType) && entry.platform?.os !== 'unknown',
        )
      : [root];
  const platforms: InspectedPlatform[] = [];
  for (const entry of entries) platforms.push(await inspectPlatform(target, entry));
  return { reference: `${target.name}:${reference}`, root, platforms };
}

async function inspectPlatform(target: Target, desc: Descriptor): Promise<InspectedPlatform> {
  const fetched = await fetchManifest(target, desc);
  if (fetched.kind !== 'manifest') {
    throw new KartError('MANIFEST_UNSUPPORTED', `${desc.digest} is a nested index, not a platform manifest`, {
      exitCode: 1,
    });
  }
  const manifest = fetched.manifest;
  let platform =
    desc.platform === undefined ? undefined : `${desc.platform.os}/${desc.platform.architecture}`;
  if (platform === undefined && !isImageConfigMediaType(manifest.config.mediaType)) {
    // Not an image (an OCI artifact): its config is not parsed (image-spec MUST NOT).
    platform = `artifact ${manifest.config.mediaType}`;
  }
  if (platform === undefined) {
    const config = parseJson(
      ImageConfigSchema,
      await fetchBytes(target, manifest.config),
      `image config ${manifest.config.digest}`,
    );
    platform = `${config.os}/${config.architecture}`;
  }
  // One answer per layer (layer-files.ts): the annotation when there is one, else the tar headers,
  // read in the same pass as the metadata when the metadata layer is not annotated either.
  const files: InspectedFile[] = [];
  let metadata: ParsedKernelMetadata | undefined;
  for (const [i, layer] of manifest.layers.entries()) {
    const named = annotatedLayerFile(layer);
    const wantsMetadata = metadata === undefined && (named === undefined || named === METADATA_PATH);
    const held = await layerFiles(
      target,
      layer,
      wantsMetadata ? { read: METADATA_PATH, maxBytes: MAX_METADATA_BYTES } : {},
    );
    if (held.content !== undefined) {
      metadata = parseKernelMetadata(held.content, `${layer.digest} ${METADATA_PATH}`);
    }
    files.push({
      path: held.files.length > 0 ? held.files.join(', ') : `(layer ${i + 1})`,
      paths: held.files,
      mediaType: layer.mediaType,
      size: layer.size,
      digest: layer.digest,
    });
  }
  return {
    platform,
    manifest: desc,
    annotations: manifest.annotations ?? {},
    files,
    ...(metadata === undefined ? {} : { metadata }),
  };
}

const METADATA_PATH = 'kernel/metadata';

function isImageConfigMediaType(mediaType: string): boolean {
  return mediaType === MediaType.OciConfig || mediaType === MediaType.DockerConfig;
}
