/**
 * A small but real OCI image for registry tests: one layer holding the real Debian vmlinuz (read
 * from disk, not built in memory: pushes stream it), a config, a manifest and a one-entry index.
 * Descriptors carry exact digests so tests can compare every byte that comes back.
 */
import { createReadStream, readFileSync, statSync } from 'node:fs';
import { Readable } from 'node:stream';
import { createHash } from 'node:crypto';
import { sha256Digest, type Digest } from '../../src/oci/digest.ts';
import { MediaType } from '../../src/oci/media-types.ts';
import type { Descriptor } from '../../src/oci/schema.ts';
import type { Target } from '../../src/oci/store.ts';
import { debianKernelPaths } from '../support/debian-kernels.ts';

export interface FixtureImage {
  layerPath: string;
  layer: Descriptor;
  config: Descriptor;
  configBytes: Buffer;
  manifest: Descriptor;
  manifestBytes: Buffer;
  index: Descriptor;
  indexBytes: Buffer;
}

function fileDigest(path: string): Digest {
  return `sha256:${createHash('sha256').update(readFileSync(path)).digest('hex')}`;
}

export function kernelImage(label = 'kart-test'): FixtureImage {
  const layerPath = debianKernelPaths('cloud-amd64').vmlinuz;
  const layer: Descriptor = {
    mediaType: MediaType.OciLayer,
    digest: fileDigest(layerPath),
    size: statSync(layerPath).size,
    annotations: { 'org.opencontainers.image.title': 'kernel/image' },
  };
  const configBytes = Buffer.from(
    JSON.stringify({
      architecture: 'amd64',
      os: 'linux',
      rootfs: { type: 'layers', diff_ids: [layer.digest] },
    }),
  );
  const config: Descriptor = {
    mediaType: MediaType.OciConfig,
    digest: sha256Digest(configBytes),
    size: configBytes.length,
  };
  const manifestBytes = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: MediaType.OciManifest,
      config,
      layers: [layer],
      annotations: { 'dev.kart.test': label },
    }),
  );
  const manifest: Descriptor = {
    mediaType: MediaType.OciManifest,
    digest: sha256Digest(manifestBytes),
    size: manifestBytes.length,
  };
  const indexBytes = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: MediaType.OciIndex,
      manifests: [{ ...manifest, platform: { architecture: 'amd64', os: 'linux' } }],
    }),
  );
  const index: Descriptor = {
    mediaType: MediaType.OciIndex,
    digest: sha256Digest(indexBytes),
    size: indexBytes.length,
  };
  return { layerPath, layer, config, configBytes, manifest, manifestBytes, index, indexBytes };
}

/** Pushes the image into any Target (leaves first) and tags the index. */
export async function pushImage(target: Target, image: FixtureImage, tag: string): Promise<void> {
  await target.push(image.layer, createReadStream(image.layerPath));
  await target.push(image.config, Readable.from([image.configBytes]));
  await target.push(image.manifest, Readable.from([image.manifestBytes]));
  await target.push(image.index, Readable.from([image.indexBytes]));
  await target.tag(image.index, tag);
}

export async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

export function sha256OfBuffer(bytes: Buffer): Digest {
  return sha256Digest(bytes);
}
