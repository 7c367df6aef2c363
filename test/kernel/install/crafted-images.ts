import { createHash } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { gzipSync, zstdCompressSync } from 'node:zlib';
import { Field, USTAR_MAGIC, headerChecksum, paddingFor } from '../../../src/oci/tar-format.ts';
import { MediaType, type Descriptor, type Digest } from '../../../src/oci/index.ts';
import { descriptorOf, pushBytes } from '../../../src/oci/manifest-io.ts';
import type { OciLayout } from '../../../src/oci/layout.ts';
import { makeArm64Image, makeBzImage } from '../../support/synthetic-kernels.ts';

/**
 * Hand-made tar layers and images for the install tests: any entry a hostile or odd publisher could
 * put in a layer (absolute paths, `..`, links, devices, lying sizes), built byte by byte so that no
 * well-behaved writer stands in the way.
 */
export interface RawEntry {
  path: string;
  /** '0' file, '1' hardlink, '2' symlink, '3' char device, '5' directory */
  type?: '0' | '1' | '2' | '3' | '5';
  body?: Buffer | string;
  linkname?: string;
  /** a size to claim in the header instead of the body's length */
  claimedSize?: number;
}

function header(entry: RawEntry, size: number): Buffer {
  const block = Buffer.alloc(512);
  const put = ([offset, length]: readonly [number, number], text: string) =>
    block.write(text.slice(0, length), offset, 'latin1');
  const octal = (field: readonly [number, number], value: number) =>
    put(field, `${value.toString(8).padStart(field[1] - 1, '0')}\0`);
  put(Field.name, entry.path);
  octal(Field.mode, entry.type === '5' ? 0o755 : 0o644);
  octal(Field.uid, 0);
  octal(Field.gid, 0);
  octal(Field.size, size);
  octal(Field.mtime, 0);
  put(Field.typeflag, entry.type ?? '0');
  put(Field.linkname, entry.linkname ?? '');
  put(Field.magic, USTAR_MAGIC);
  put(Field.version, '00');
  block.write(`${headerChecksum(block).toString(8).padStart(6, '0')}\0 `, Field.checksum[0], 'latin1');
  return block;
}

export function rawTar(entries: RawEntry[], end = true): Buffer {
  const parts: Buffer[] = [];
  for (const entry of entries) {
    const body = Buffer.from(entry.body ?? '');
    parts.push(header(entry, entry.claimedSize ?? body.length));
    if (body.length > 0) parts.push(body, Buffer.alloc(paddingFor(body.length)));
  }
  if (end) parts.push(Buffer.alloc(1024));
  return Buffer.concat(parts);
}

export function sha256(bytes: Buffer | string): Digest {
  return `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
}

export const CONFIG_TEXT = '# test\nCONFIG_DEMO=y\n';

export function metadataFor(arch: 'x86_64' | 'aarch64', config = CONFIG_TEXT): string {
  return `KERNEL_ARCH=${arch}\nKERNEL_VERSION=6.1.99\nKERNEL_UNAME_R=6.1.99-demo\nKERNEL_FLAVOR=demo\nKERNEL_CONFIG=${sha256(config)}\n`;
}

export function kernelFor(arch: 'amd64' | 'arm64'): Buffer {
  return arch === 'amd64' ? makeBzImage('6.1.99-demo') : makeArm64Image('6.1.99-demo');
}

/** The four kart layers as tars (kernel/ first, then the file). */
export function kartLayers(arch: 'amd64' | 'arm64' = 'amd64', addons?: Buffer): Buffer[] {
  const dir: RawEntry = { path: 'kernel/', type: '5' };
  return [
    rawTar([dir, { path: 'kernel/image', body: kernelFor(arch) }]),
    rawTar([dir, { path: 'kernel/config.gz', body: gzipSync(CONFIG_TEXT) }]),
    ...(addons === undefined ? [] : [rawTar([dir, { path: 'kernel/addons.squashfs', body: addons }])]),
    rawTar([dir, { path: 'kernel/metadata', body: metadataFor(arch === 'amd64' ? 'x86_64' : 'aarch64') }]),
  ];
}

export interface CraftedLayer {
  bytes: Buffer;
  compression?: 'none' | 'gzip' | 'zstd';
  /** overrides on the descriptor (a lying digest or size) */
  lie?: Partial<Pick<Descriptor, 'digest' | 'size'>>;
  /** `bytes` are stored as they are, already (or supposedly) compressed as `compression` says */
  stored?: boolean;
  /** the descriptor's annotations (kart's file annotation, say) */
  annotations?: Record<string, string>;
}

/** Stores layers, a config and a manifest in the layout; returns the manifest descriptor. */
export async function storeImage(
  layout: OciLayout,
  layers: (Buffer | CraftedLayer)[],
  arch: 'amd64' | 'arm64' = 'amd64',
): Promise<Descriptor> {
  const descriptors: Descriptor[] = [];
  for (const item of layers) {
    const layer: CraftedLayer = Buffer.isBuffer(item) ? { bytes: item } : item;
    const compression = layer.compression ?? 'none';
    const bytes = layer.stored
      ? layer.bytes
      : compression === 'gzip'
        ? gzipSync(layer.bytes)
        : compression === 'zstd'
          ? zstdCompressSync(layer.bytes)
          : layer.bytes;
    const mediaType =
      compression === 'gzip'
        ? MediaType.OciLayerGzip
        : compression === 'zstd'
          ? MediaType.OciLayerZstd
          : MediaType.OciLayer;
    const desc = descriptorOf(
      bytes,
      mediaType,
      layer.annotations === undefined ? {} : { annotations: layer.annotations },
    );
    await pushBytes(layout, desc, bytes);
    // A lying digest: the same bytes stored under the other name, as a blob corrupted at rest would be.
    if (layer.lie?.digest !== undefined) await writeFile(layout.blobPath(layer.lie.digest), bytes);
    descriptors.push({ ...desc, ...(layer.lie ?? {}) });
  }
  const config = Buffer.from(
    JSON.stringify({ architecture: arch, os: 'linux', rootfs: { type: 'layers', diff_ids: [] } }),
  );
  const configDesc = descriptorOf(config, MediaType.OciConfig);
  await pushBytes(layout, configDesc, config);
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: MediaType.OciManifest,
      config: configDesc,
      layers: descriptors,
    }),
  );
  const manifestDesc = descriptorOf(manifest, MediaType.OciManifest);
  await pushBytes(layout, manifestDesc, manifest);
  return manifestDesc;
}
