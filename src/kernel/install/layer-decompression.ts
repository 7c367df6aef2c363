import type { Transform } from 'node:stream';
import { createGunzip, createZstdDecompress } from 'node:zlib';
import { KartError } from '../../errors.ts';
import { MediaType } from '../../oci/index.ts';

export type LayerCompression = 'none' | 'gzip' | 'zstd';

const BY_MEDIA_TYPE: Record<string, LayerCompression> = {
  [MediaType.OciLayer]: 'none',
  [MediaType.OciLayerGzip]: 'gzip',
  [MediaType.OciLayerZstd]: 'zstd',
  [MediaType.DockerLayer]: 'none',
  [MediaType.DockerLayerGzip]: 'gzip',
  // The non-distributable ("foreign") variants carry the same bytes.
  'application/vnd.oci.image.layer.nondistributable.v1.tar': 'none',
  'application/vnd.oci.image.layer.nondistributable.v1.tar+gzip': 'gzip',
  'application/vnd.oci.image.layer.nondistributable.v1.tar+zstd': 'zstd',
  'application/vnd.docker.image.rootfs.foreign.diff.tar.gzip': 'gzip',
};

/** How a layer's bytes are compressed, from its media type; anything else is not a tar layer. */
export function layerCompression(mediaType: string, layer: string): LayerCompression {
  const compression = BY_MEDIA_TYPE[mediaType];
  if (compression === undefined) {
    throw new KartError(
      'LAYER_MEDIA_TYPE_UNSUPPORTED',
      `layer ${layer} has media type ${mediaType}, which is not a tar layer`,
      {
        exitCode: 1,
        hint: 'kernel images hold tar layers: uncompressed, gzip or zstd (OCI or Docker v2 media types)',
      },
    );
  }
  return compression;
}

export function decompressorFor(compression: LayerCompression): Transform | undefined {
  if (compression === 'gzip') return createGunzip();
  if (compression === 'zstd') return createZstdDecompress();
  return undefined;
}
