import { PassThrough, Readable, pipeline } from 'node:stream';
import { KartError } from '../../errors.ts';
import { VerifyingStream, verifiedDigestOf, type Descriptor, type Fetcher } from '../../oci/index.ts';
import { readTar, type TarEntry } from '../../oci/tar-reader.ts';
import { decompressorFor, layerCompression } from '../install/layer-decompression.ts';

/**
 * Streams one tar layer, the one reader of layer contents that `kart check REF`, inspect and
 * layerFiles' tar fallback share: `want` sees every entry (path without `./`) and picks the regular
 * files whose body `use` gets (which must consume or ignore it). The layer is always read to its last
 * byte, so its digest and size are checked (by the store when it says it verified, else here) before
 * this resolves: nothing read from a layer, not even a file name, is trusted unless the whole layer
 * matched its descriptor. Reaching a tar's last header means reading (and skipping) every body before
 * it anyway, so the few bytes after the end-of-archive marker cost nothing.
 */
export async function readLayerFiles(
  source: Fetcher,
  layer: Descriptor,
  want: (path: string, entry: TarEntry) => boolean,
  use: (path: string, body: Readable, entry: TarEntry) => Promise<void>,
): Promise<void> {
  const compression = layerCompression(layer.mediaType, layer.digest);
  const fetched = await source.fetch(layer);
  const verifier =
    verifiedDigestOf(fetched) === layer.digest
      ? new PassThrough()
      : new VerifyingStream({ digest: layer.digest, size: layer.size }, `layer ${layer.digest}`);
  const decompressor = decompressorFor(compression);
  let failure: Error | undefined;
  const onDone = (error: Error | null): void => {
    if (error) failure = error;
  };
  const bytes =
    decompressor === undefined
      ? pipeline(fetched, verifier, onDone)
      : pipeline(fetched, verifier, decompressor, onDone);
  // The tar reader stops at the end-of-archive marker and destroys its input: it gets a view, and the
  // rest of the layer is drained here so that the digest is checked.
  const iterator = (bytes as AsyncIterable<Buffer>)[Symbol.asyncIterator]();
  const view = Readable.from(
    (async function* () {
      for (;;) {
        const next = await iterator.next();
        if (next.done) return;
        yield next.value;
      }
    })(),
  );
  try {
    for await (const entry of readTar(view)) {
      const path = entry.path.replace(/^(\.\/)+/, '');
      if (want(path, entry) && entry.type === 'file') await use(path, entry.body, entry);
    }
    for (;;) {
      const next = await iterator.next();
      if (next.done) break;
    }
  } catch (error) {
    bytes.destroy();
    throw failure instanceof KartError ? failure : error;
  }
  if (failure) throw failure;
}
