import { open } from 'node:fs/promises';
import { createDigester, digestAlgorithm, type Digest } from './digest.ts';

/**
 * Reads go into one reused 1 MiB buffer: the bytes only feed the hash, so nothing keeps a chunk, and
 * a fresh buffer per read (a read stream's way) costs page faults and 16× the read round trips.
 */
const READ_BYTES = 1024 * 1024;

/**
 * Streams a file through the hasher for `algorithm`: its digest and size (read errors are thrown).
 * With `frame`, of `head`, the file, then `tail` (a blob kept framed around a file).
 */
export async function digestFile(
  path: string,
  algorithm = 'sha256',
  frame?: { head: Buffer; tail: Buffer },
): Promise<{ digest: Digest; size: number }> {
  const hash = createDigester(algorithm);
  const handle = await open(path, 'r');
  try {
    const buffer = Buffer.allocUnsafe(READ_BYTES);
    let position = 0;
    if (frame !== undefined) hash.update(frame.head);
    for (;;) {
      const { bytesRead } = await handle.read(buffer, 0, buffer.length, position);
      if (bytesRead === 0) break;
      hash.update(buffer.subarray(0, bytesRead));
      position += bytesRead;
    }
    if (frame !== undefined) hash.update(frame.tail);
    const size = position + (frame === undefined ? 0 : frame.head.length + frame.tail.length);
    return { digest: `${algorithm}:${hash.digest('hex')}`, size };
  } finally {
    await handle.close();
  }
}

/**
 * Whether the file at `path` holds exactly the content `expected` names (size and digest); a file
 * that cannot be read holds nothing. Used to re-check what is stored (a cache blob, an installed file).
 */
export async function fileHolds(path: string, expected: { digest: Digest; size: number }): Promise<boolean> {
  try {
    const actual = await digestFile(path, digestAlgorithm(expected.digest));
    return actual.size === expected.size && actual.digest === expected.digest;
  } catch {
    return false;
  }
}
