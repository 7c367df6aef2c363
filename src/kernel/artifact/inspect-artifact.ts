import { KartError } from '../../errors.ts';
import {
  ImageConfigSchema,
  isImageManifestMediaType,
  parseJson,
  type Descriptor,
  type Digest,
  type Target,
} from '../../oci/index.ts';
import { fetchBytes, fetchManifest } from '../../oci/manifest-io.ts';
import { readTar } from '../../oci/tar-reader.ts';
import { decompressorFor, layerCompression } from '../install/layer-decompression.ts';
import { layerFilePath } from './kernel-layers.ts';
import { MAX_METADATA_BYTES, parseKernelMetadata, type ParsedKernelMetadata } from './metadata.ts';

/**
 * What a kernel image holds, read through any Target (a layout or a registry repository): for each
 * platform, the manifest digest, its annotations, each file (from its layer's title annotation) with
 * the layer's size and digest, and the parsed kernel/metadata. Only the metadata layer is downloaded.
 */
export interface InspectedFile {
  path: string;
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
  if (platform === undefined) {
    const config = parseJson(
      ImageConfigSchema,
      await fetchBytes(target, manifest.config),
      `image config ${manifest.config.digest}`,
    );
    platform = `${config.os}/${config.architecture}`;
  }
  const files = manifest.layers.map((layer, i) => ({
    path: layerFilePath(layer) ?? `(layer ${i + 1})`,
    mediaType: layer.mediaType,
    size: layer.size,
    digest: layer.digest,
  }));
  const metadataLayer = manifest.layers.find((layer) => layerFilePath(layer) === 'kernel/metadata');
  const metadata = metadataLayer === undefined ? undefined : await readMetadataLayer(target, metadataLayer);
  return {
    platform,
    manifest: desc,
    annotations: manifest.annotations ?? {},
    files,
    ...(metadata === undefined ? {} : { metadata }),
  };
}

async function readMetadataLayer(
  target: Target,
  layer: Descriptor,
): Promise<ParsedKernelMetadata | undefined> {
  const decompressor = decompressorFor(layerCompression(layer.mediaType, layer.digest));
  const raw = await target.fetch(layer);
  const stream = decompressor === undefined ? raw : raw.pipe(decompressor);
  raw.on('error', (error) => stream.destroy(error));
  for await (const entry of readTar(stream)) {
    if (entry.type !== 'file' || entry.path.replace(/^(\.\/)+/, '') !== 'kernel/metadata') continue;
    if (entry.size > MAX_METADATA_BYTES) return undefined;
    const chunks: Buffer[] = [];
    for await (const chunk of entry.body as AsyncIterable<Buffer>) chunks.push(chunk);
    return parseKernelMetadata(Buffer.concat(chunks), `${layer.digest} kernel/metadata`);
  }
  return undefined;
}
