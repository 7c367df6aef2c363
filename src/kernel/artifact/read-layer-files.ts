import type { Readable } from 'node:stream';
import { KartError } from '../../errors.ts';
import type { Descriptor, Fetcher } from '../../oci/index.ts';
import { readTar, type TarEntry } from '../../oci/tar-reader.ts';
import {
  DEFAULT_INSTALL_LIMITS,
  fileLimit,
  isDecompressionError,
  layerExpansionLimit,
} from '../install/install-limits.ts';
import { consumeLayer } from '../install/layer-stream.ts';

/**
 * Streams one tar layer (through install's consumeLayer: fetch, verify, decompress, bound), the one
 * reader of layer contents that `kart check REF`, inspect and
 * layerFiles' tar fallback share: `want` sees every entry (path without `./`) and picks the regular
 * files whose body `use` gets (which must consume or ignore it); every other body is skipped by the tar
 * reader, never kept. The layer is always read to its last byte, so its digest and size are checked
 * (by the store when it says it verified, else here) before this resolves: nothing read from a layer,
 * not even a file name, is trusted unless the whole layer matched its descriptor. Reaching a tar's last
 * header means reading (and skipping) every body before it anyway, so the few bytes after the
 * end-of-archive marker cost nothing.
 *
 * The bounds are install's (install-limits.ts), since a published image is the same untrusted input:
 * the decompressed stream is cut at the layer's expansion limit, a picked file whose tar header claims
 * more than its per-path limit is refused before a byte of it is read, and a stream that does not
 * decompress is LAYER_INVALID (exit 1), not a crash. `source` names the image in those messages.
 */
export async function readLayerFiles(
  store: Fetcher,
  layer: Descriptor,
  source: string,
  want: (path: string, entry: TarEntry) => boolean,
  use: (path: string, body: Readable, entry: TarEntry) => Promise<void>,
): Promise<void> {
  const limits = DEFAULT_INSTALL_LIMITS;
  await consumeLayer(
    store,
    layer,
    {
      expansion: layerExpansionLimit(limits, layer.size),
      invalid: (why, cause) =>
        checkLayerInvalid(source, layer, cause instanceof Error ? `${why}: ${cause.message}` : why, cause),
    },
    async (content) => {
      let entries = 0;
      for await (const entry of readTar(content)) {
        if (++entries > limits.layerEntries) {
          throw checkLayerInvalid(source, layer, `holds more than ${limits.layerEntries} entries`);
        }
        const path = entry.path.replace(/^(\.\/)+/, '');
        if (!want(path, entry) || entry.type !== 'file') continue;
        const limit = fileLimit(limits, path);
        if (limit !== undefined && entry.size > limit) {
          throw checkLayerInvalid(
            source,
            layer,
            `holds a ${path} of ${entry.size} bytes, more than the ${limit} bytes kart reads of it`,
          );
        }
        await use(path, entry.body, entry);
      }
    },
  );
}

/** A damaged compressed stream (the layer's, or a gzip file inside it) is the image's fault: exit 1. */
export function asLayerError(error: Error, source: string, layer: Descriptor, what = 'does not'): Error {
  if (error instanceof KartError || !isDecompressionError(error)) return error;
  return checkLayerInvalid(source, layer, `${what} decompress: ${error.message}`, error);
}

/** LAYER_INVALID (as install says it) naming the image checked and the layer. */
export function checkLayerInvalid(
  source: string,
  layer: Descriptor,
  why: string,
  cause?: unknown,
): KartError {
  return new KartError('LAYER_INVALID', `${source}: layer ${layer.digest} ${why}`, {
    exitCode: 1,
    hint: 'the image is damaged or hostile; publish it again',
    details: { layer: layer.digest },
    ...(cause === undefined ? {} : { cause }),
  });
}
