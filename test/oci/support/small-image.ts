/**
 * Builds a small multi-platform image with kart's own writers (tar layers, config, manifest, index)
 * into any store, so tests of the layout, copy and interop have real content to move.
 */
import { Readable } from 'node:stream';
import {
  MediaType,
  descriptorOf,
  pushBytes,
  pushJson,
  tarLayer,
  type Descriptor,
  type Storage,
} from '../../../src/oci/index.ts';

export interface SmallImage {
  index: Descriptor;
  manifests: Descriptor[];
  configs: Descriptor[];
  layers: Descriptor[];
  /** Every distinct digest in the graph. */
  digests: Set<string>;
}

export async function tarBytes(files: Record<string, string>, mtime = 0): Promise<Buffer> {
  const entries = Object.entries(files).map(([path, text]) => ({
    path,
    size: Buffer.byteLength(text),
    source: () => Readable.from([Buffer.from(text)]),
  }));
  const parts: Buffer[] = [];
  for await (const chunk of tarLayer(entries, { mtime })) parts.push(chunk as Buffer);
  return Buffer.concat(parts);
}

/**
 * One manifest per architecture, each with a layer of its own and a layer shared by all of them
 * (so de-duplication is visible), under one index.
 */
export async function buildSmallImage(
  store: Storage,
  architectures = ['amd64', 'arm64'],
  seed = 'a',
): Promise<SmallImage> {
  const digests = new Set<string>();
  const shared = await tarBytes({ 'kernel/metadata': `SHARED=${seed}\n` });
  const sharedDesc = descriptorOf(shared, MediaType.OciLayer, {
    annotations: { 'org.opencontainers.image.title': 'kernel/metadata' },
  });
  await pushBytes(store, sharedDesc, shared);
  digests.add(sharedDesc.digest);
  const manifests: Descriptor[] = [];
  const configs: Descriptor[] = [];
  const layers: Descriptor[] = [sharedDesc];
  for (const architecture of architectures) {
    const own = await tarBytes({ 'kernel/image': `image for ${architecture} ${seed}\n` });
    const ownDesc = descriptorOf(own, MediaType.OciLayer, {
      annotations: { 'org.opencontainers.image.title': 'kernel/image' },
    });
    await pushBytes(store, ownDesc, own);
    layers.push(ownDesc);
    const config = await pushJson(store, MediaType.OciConfig, {
      architecture,
      os: 'linux',
      rootfs: { type: 'layers', diff_ids: [ownDesc.digest, sharedDesc.digest] },
    });
    configs.push(config.descriptor);
    const manifest = await pushJson(store, MediaType.OciManifest, {
      schemaVersion: 2,
      mediaType: MediaType.OciManifest,
      config: config.descriptor,
      layers: [ownDesc, sharedDesc],
    });
    manifests.push({ ...manifest.descriptor, platform: { os: 'linux', architecture } });
    for (const d of [ownDesc, config.descriptor, manifest.descriptor]) digests.add(d.digest);
  }
  const index = await pushJson(store, MediaType.OciIndex, {
    schemaVersion: 2,
    mediaType: MediaType.OciIndex,
    manifests,
  });
  digests.add(index.descriptor.digest);
  return { index: index.descriptor, manifests, configs, layers, digests };
}
