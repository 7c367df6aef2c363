import { PassThrough, Readable, pipeline } from 'node:stream';
import { KartError } from '../../errors.ts';
import { VerifyingStream, verifiedDigestOf, type Descriptor, type Fetcher } from '../../oci/index.ts';
import { backingFileOf, type BackingFile } from '../../oci/backing-file.ts';
import { ByteLimit, isDecompressionError } from './install-limits.ts';
import { decompressorFor, layerCompression, type LayerCompression } from './layer-decompression.ts';

export interface LayerStreamOptions {
  /** the most bytes the layer may decompress to (install-limits.ts: layerExpansionLimit) */
  expansion: number;
  /** the caller's LAYER_INVALID for this layer; `why` completes "layer DIGEST ..." */
  invalid: (why: string, cause?: unknown) => KartError;
}

/**
 * One pass over a layer's (decompressed) bytes, the one place install and the readers of published
 * layers (check, inspect) fetch, verify, decompress and bound a layer: `consume` gets the content as a
 * stream it may stop reading and destroy (a tar reader stops at its end-of-archive marker); the rest
 * of the layer is then read to its last byte, so its digest and size are checked (by the store when it
 * says it verified, else here) before this resolves. Decompression is cut at `expansion` bytes, and a
 * stream that does not decompress is the caller's LAYER_INVALID (exit 1), whichever of the pipeline's
 * callback and the consumer sees the error first.
 */
export async function consumeLayer(
  store: Fetcher,
  layer: Descriptor,
  options: LayerStreamOptions,
  consume: (content: Readable, compression: LayerCompression, backing?: BackingFile) => Promise<void>,
): Promise<void> {
  const compression = layerCompression(layer.mediaType, layer.digest);
  const fetched = await store.fetch(layer);
  // An uncompressed layer the store keeps around a file: the consumer may share that file.
  const backing = compression === 'none' ? backingFileOf(fetched) : undefined;
  // Every byte is verified once: by the store when it says so (a layout or registry read fails unless
  // the content matches), else here. Hashing it twice only costs time.
  const verifier =
    verifiedDigestOf(fetched) === layer.digest
      ? new PassThrough()
      : new VerifyingStream({ digest: layer.digest, size: layer.size }, `layer ${layer.digest}`);
  const classify = (error: Error): Error =>
    error instanceof KartError || !isDecompressionError(error)
      ? error
      : options.invalid('does not decompress', error);
  let failure: Error | undefined;
  const onDone = (error: Error | null): void => {
    if (error) failure = classify(error);
  };
  const decompressor = decompressorFor(compression);
  const bytes =
    decompressor === undefined
      ? pipeline(fetched, verifier, onDone)
      : pipeline(
          fetched,
          verifier,
          decompressor,
          new ByteLimit(options.expansion, () =>
            options.invalid(
              `decompresses to more than ${options.expansion} bytes (it is ${layer.size} bytes)`,
            ),
          ),
          onDone,
        );
  // The consumer gets a view it may destroy; the layer itself is drained here afterwards.
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
    await consume(view, compression, backing);
    for (;;) {
      const next = await iterator.next();
      if (next.done) break;
    }
  } catch (error) {
    bytes.destroy();
    // A digest or size mismatch (or a bomb cut short) explains a broken tar better than the tar error does.
    throw failure instanceof KartError ? failure : classify(error as Error);
  }
  if (failure) throw failure;
}
