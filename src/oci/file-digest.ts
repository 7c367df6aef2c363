import { createReadStream } from 'node:fs';
import { createDigester, digestAlgorithm, type Digest } from './digest.ts';

/** Streams a file through the hasher for `algorithm`: its digest and size (read errors are thrown). */
export async function digestFile(
  path: string,
  algorithm = 'sha256',
): Promise<{ digest: Digest; size: number }> {
  const hash = createDigester(algorithm);
  let size = 0;
  for await (const chunk of createReadStream(path) as AsyncIterable<Buffer>) {
    size += chunk.length;
    hash.update(chunk);
  }
  return { digest: `${algorithm}:${hash.digest('hex')}`, size };
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
