import type { Readable } from 'node:stream';
import { createGunzip, createZstdDecompress } from 'node:zlib';
import { KartError } from '../../errors.ts';
import { imageCorrupt, imageTruncated } from './image-errors.ts';
import { decodeLz4Legacy, Lz4FormatError } from './lz4-legacy.ts';
import type { KernelCompression } from './types.ts';

/**
 * Decompresses a kernel payload as a stream, whatever the kernel build compressed it with: gzip and
 * zstd with Node's zlib (zstd's default window limit, 128 MiB, is what `zstd -22 --ultra` needs), xz
 * (x86 BCJ included) and lzma with @napi-rs/lzma, lz4's legacy frame with kart's own decoder. The
 * caller reads only as far as it needs; leaving its loop destroys the chain, so the rest of the
 * payload is neither read nor decompressed, and no more than a decoder's window is ever held.
 *
 * `compressed` must hold the payload alone: for every method but gzip, without the 4-byte size the
 * kernel build appends (decoders refuse trailing bytes).
 */
export interface PayloadSource {
  /** the file, for messages */
  path: string;
  /** e.g. "x86 bzImage", for messages */
  format: string;
}

export const DECOMPRESSIBLE: readonly KernelCompression[] = ['gzip', 'zstd', 'xz', 'lzma', 'lz4'];

export async function* decompressPayload(
  compression: KernelCompression,
  compressed: Readable,
  source: PayloadSource,
): AsyncGenerator<Buffer> {
  let produced = 0;
  let decoded: AsyncIterable<Buffer>;
  let decoder: Readable | undefined;
  if (compression === 'lz4') {
    decoded = decodeLz4Legacy(compressed);
  } else {
    decoder = await decoderFor(compression, source);
    const stream = decoder;
    compressed.on('error', (error) => stream.destroy(error));
    compressed.pipe(stream as unknown as NodeJS.WritableStream);
    decoded = stream as AsyncIterable<Buffer>;
  }
  try {
    for await (const chunk of decoded) {
      produced += chunk.length;
      yield chunk;
    }
  } catch (error) {
    throw payloadError(error, compression, produced, source);
  } finally {
    compressed.destroy();
    decoder?.destroy();
  }
}

async function decoderFor(compression: KernelCompression, source: PayloadSource): Promise<Readable> {
  switch (compression) {
    case 'gzip':
      return createGunzip();
    case 'zstd':
      return createZstdDecompress();
    case 'xz':
      return (await import('@napi-rs/lzma/xz')).createDecompressStream();
    case 'lzma':
      return (await import('@napi-rs/lzma/lzma')).createDecompressStream();
    default:
      throw new KartError(
        'IMAGE_COMPRESSION_UNSUPPORTED',
        `${source.format} ${source.path} has a ${compression} payload, which kart does not decompress`,
        {
          hint: `kart decompresses ${DECOMPRESSIBLE.join(', ')} payloads; pass the build's vmlinux or its .config instead`,
          details: { compression },
        },
      );
  }
}

function payloadError(
  error: unknown,
  compression: KernelCompression,
  produced: number,
  source: PayloadSource,
): unknown {
  if (error instanceof KartError) return error;
  const message = error instanceof Error ? error.message : String(error);
  const code = (error as NodeJS.ErrnoException).code;
  if (code === 'Z_BUF_ERROR' || /unexpected end|truncated|end of (input|file|stream)/i.test(message)) {
    return imageTruncated(
      source.path,
      source.format,
      `the end of its ${compression} payload (decompressed ${produced} bytes)`,
    );
  }
  if (error instanceof Lz4FormatError || code !== undefined || error instanceof Error) {
    return imageCorrupt(
      source.path,
      source.format,
      `its ${compression} payload does not decompress after ${produced} bytes (${message})`,
    );
  }
  return error;
}
