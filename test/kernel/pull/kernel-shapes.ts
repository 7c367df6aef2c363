/**
 * Kernel images in the shapes found in the wild, built in an OCI layout for the pull tests: kart's
 * own / linux-kernel-oci's four gzip layers, one uncompressed layer holding every file, zstd layers,
 * Docker v2 media types, LinuxKit's `kernel` + `kernel.tar` + `kernel-dev.tar`, and an index with an
 * unknown/unknown attestation entry beside linux/amd64 and linux/arm64. Small synthetic kernels.
 */
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { gzipSync, zstdCompressSync } from 'node:zlib';
import { MediaType, type Descriptor } from '../../../src/oci/index.ts';
import { descriptorOf, pushBytes } from '../../../src/oci/manifest-io.ts';
import type { OciLayout } from '../../../src/oci/layout.ts';
import { tarLayer } from '../../../src/oci/tar-writer.ts';
import { makeArm64Image, makeBzImage } from '../../support/synthetic-kernels.ts';

export type Arch = 'amd64' | 'arm64';
export type Shape = 'kart' | 'one-layer' | 'zstd' | 'docker-v2' | 'linuxkit';

export const RELEASE = '6.1.99-pull';
export const CONFIG_TEXT = '# pull test\nCONFIG_DEMO=y\nCONFIG_XEN=y\n';

export function sha256(bytes: Buffer | string): string {
  return `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
}

export function kernelBytes(arch: Arch, release = RELEASE): Buffer {
  return arch === 'amd64' ? makeBzImage(release) : makeArm64Image(release);
}

export function metadataText(arch: Arch, config = CONFIG_TEXT): string {
  const kernelArch = arch === 'amd64' ? 'x86_64' : 'aarch64';
  return `KERNEL_ARCH=${kernelArch}\nKERNEL_VERSION=6.1.99\nKERNEL_UNAME_R=${RELEASE}\nKERNEL_FLAVOR=demo\nKERNEL_CONFIG=${sha256(config)}\n`;
}

export async function tarBytes(files: Record<string, Buffer | string>): Promise<Buffer> {
  const entries = Object.entries(files).map(([path, body]) => {
    const bytes = Buffer.from(body);
    return { path, size: bytes.length, source: () => Readable.from([bytes]) };
  });
  const parts: Buffer[] = [];
  for await (const chunk of tarLayer(entries, { mtime: 0 })) parts.push(chunk as Buffer);
  return Buffer.concat(parts);
}

/** The files each shape installs, by installed name, for byte comparisons. */
export function expectedFiles(arch: Arch, shape: Shape, release = RELEASE): Record<string, Buffer> {
  const files: Record<string, Buffer> = {
    kernel: kernelBytes(arch, release),
    config: Buffer.from(CONFIG_TEXT),
  };
  if (shape !== 'linuxkit') files.metadata = Buffer.from(metadataText(arch));
  return files;
}

async function layersFor(
  arch: Arch,
  shape: Shape,
  release: string,
): Promise<{ bytes: Buffer; mediaType: string }[]> {
  const kernel = kernelBytes(arch, release);
  if (shape === 'linuxkit') {
    const dev = await tarBytes({ [`usr/src/linux-headers-${release}/.config`]: CONFIG_TEXT });
    const modules = await tarBytes({ [`lib/modules/${release}/modules.dep`]: '' });
    const layer = await tarBytes({ kernel, 'kernel.tar': modules, 'kernel-dev.tar': dev });
    return [{ bytes: gzipSync(layer), mediaType: MediaType.OciLayerGzip }];
  }
  const files = {
    'kernel/image': kernel,
    'kernel/config.gz': gzipSync(CONFIG_TEXT),
    'kernel/metadata': metadataText(arch),
  };
  if (shape === 'one-layer') return [{ bytes: await tarBytes(files), mediaType: MediaType.OciLayer }];
  const tars = [];
  for (const [path, body] of Object.entries(files)) tars.push(await tarBytes({ [path]: body }));
  // A fourth layer: a file kart does not install (linux-kernel-oci ships more than kart reads).
  tars.push(await tarBytes({ 'kernel/notes.txt': 'built for the pull tests\n' }));
  if (shape === 'zstd')
    return tars.map((bytes) => ({ bytes: zstdCompressSync(bytes), mediaType: MediaType.OciLayerZstd }));
  const mediaType = shape === 'docker-v2' ? MediaType.DockerLayerGzip : MediaType.OciLayerGzip;
  return tars.map((bytes) => ({ bytes: gzipSync(bytes), mediaType }));
}

/** Stores one platform's image; returns its manifest descriptor (with platform). */
export async function storeKernelImage(
  layout: OciLayout,
  arch: Arch,
  shape: Shape,
  release = RELEASE,
): Promise<Descriptor> {
  const docker = shape === 'docker-v2';
  const layers: Descriptor[] = [];
  for (const layer of await layersFor(arch, shape, release)) {
    const desc = descriptorOf(layer.bytes, layer.mediaType);
    await pushBytes(layout, desc, layer.bytes);
    layers.push(desc);
  }
  const config = Buffer.from(
    JSON.stringify({ architecture: arch, os: 'linux', rootfs: { type: 'layers', diff_ids: [] } }),
  );
  const configDesc = descriptorOf(config, docker ? MediaType.DockerConfig : MediaType.OciConfig);
  await pushBytes(layout, configDesc, config);
  const manifestType = docker ? MediaType.DockerManifest : MediaType.OciManifest;
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: manifestType,
      config: configDesc,
      layers,
      ...(docker ? {} : { annotations: { 'dev.edera.kernel.format': '1' } }),
    }),
  );
  const desc = descriptorOf(manifest, manifestType, { platform: { os: 'linux', architecture: arch } });
  await pushBytes(layout, desc, manifest);
  return desc;
}

/** An attestation manifest as BuildKit writes it (platform unknown/unknown). */
async function storeAttestation(layout: OciLayout, subject: Descriptor): Promise<Descriptor> {
  const statement = Buffer.from('{"_type":"https://in-toto.io/Statement/v0.1"}');
  const layer = descriptorOf(statement, 'application/vnd.in-toto+json');
  await pushBytes(layout, layer, statement);
  const config = Buffer.from(
    '{"architecture":"unknown","os":"unknown","rootfs":{"type":"layers","diff_ids":[]}}',
  );
  const configDesc = descriptorOf(config, MediaType.OciConfig);
  await pushBytes(layout, configDesc, config);
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: MediaType.OciManifest,
      config: configDesc,
      layers: [layer],
    }),
  );
  const desc = descriptorOf(manifest, MediaType.OciManifest, {
    platform: { os: 'unknown', architecture: 'unknown' },
    annotations: {
      'vnd.docker.reference.type': 'attestation-manifest',
      'vnd.docker.reference.digest': subject.digest,
    },
  });
  await pushBytes(layout, desc, manifest);
  return desc;
}

/**
 * Tags `tag` in the layout: an index of the given arches (attestation entry first, so a client that
 * takes the first entry would get it wrong), or with `bare` the amd64 manifest itself.
 */
export async function storeKernelTag(
  layout: OciLayout,
  tag: string,
  options: { shape?: Shape; arches?: Arch[]; bare?: boolean; release?: string } = {},
): Promise<Descriptor> {
  const shape = options.shape ?? 'kart';
  const arches = options.arches ?? ['amd64', 'arm64'];
  const manifests = [];
  for (const arch of arches) manifests.push(await storeKernelImage(layout, arch, shape, options.release));
  if (options.bare === true) {
    const { platform: _platform, ...bare } = manifests[0] as Descriptor;
    await layout.tag(bare, tag);
    return bare;
  }
  const attestation = await storeAttestation(layout, manifests[0] as Descriptor);
  const indexType = shape === 'docker-v2' ? MediaType.DockerManifestList : MediaType.OciIndex;
  const index = Buffer.from(
    JSON.stringify({ schemaVersion: 2, mediaType: indexType, manifests: [attestation, ...manifests] }),
  );
  const desc = descriptorOf(index, indexType);
  await pushBytes(layout, desc, index);
  await layout.tag(desc, tag);
  return desc;
}
