import { PassThrough, Readable, pipeline } from 'node:stream';
import { KartError } from '../../errors.ts';
import { VerifyingStream, verifiedDigestOf, type Descriptor, type Fetcher } from '../../oci/index.ts';
import { readTar } from '../../oci/tar-reader.ts';
import { decompressorFor, layerCompression } from '../install/layer-decompression.ts';

/**
 * Streams one tar layer and hands each regular file `want` picks to `use` (which must consume or
 * ignore its body). The layer is always read to its last byte, so its digest and size are checked
 * (by the store when it says it verified, else here) before this resolves: nothing read from a layer
 * is trusted unless the whole layer matched its descriptor.
 */
export async function readLayerFiles(
  source: Fetcher,
  layer: Descriptor,
  want: (path: string) => boolean,
  use: (path: string, body: Readable) => Promise<void>,
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
      if (entry.type === 'file' && want(path)) await use(path, entry.body);
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
