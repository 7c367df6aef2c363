import type { Readable } from 'node:stream';

/**
 * Reads a whole small stream (a manifest, a token answer, a metadata file, a password) into one
 * buffer, refusing more than `limit` bytes: past the cap the stream is destroyed and `tooLarge(size)`
 * is thrown, so a source that never stops cannot make kart hold more than `limit` in memory. Errors
 * of the stream itself pass through unchanged for the caller to name.
 */
export async function readBounded(
  stream: Readable,
  limit: number,
  tooLarge: (size: number) => Error,
): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of stream as AsyncIterable<Buffer | string>) {
    const bytes = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
    size += bytes.length;
    if (size > limit) {
      stream.destroy();
      throw tooLarge(size);
    }
    chunks.push(bytes);
  }
  return Buffer.concat(chunks, size);
}
