import { writeFileSync } from 'node:fs';
import type { Hash } from 'node:crypto';

/**
 * Bench instrumentation, off in normal runs: with KART_COUNT_HASHED_BYTES=FILE in the environment,
 * every digest hasher kart makes counts the bytes it hashes, and the process writes the totals to FILE
 * as JSON when it exits: `verified` (bytes checked against a digest they were named by: blobs, layers,
 * documents) and `content` (bytes whose digest is computed to be recorded: an installed file, a layer
 * being packed). bench/ divides `verified` by the bytes a pull moved, so "each layer byte hashed once"
 * is a count, not a guess. Unset, a hasher is returned untouched.
 */
export type HashPurpose = 'verified' | 'content';

const COUNT_FILE = process.env.KART_COUNT_HASHED_BYTES;
const hashed: Record<HashPurpose, number> = { verified: 0, content: 0 };
if (COUNT_FILE) process.on('exit', () => writeFileSync(COUNT_FILE, `${JSON.stringify(hashed)}\n`));

export function countHashedBytes(hash: Hash, purpose: HashPurpose = 'verified'): Hash {
  if (!COUNT_FILE) return hash;
  const update = hash.update.bind(hash) as (
    data: string | NodeJS.ArrayBufferView,
    encoding?: BufferEncoding,
  ) => Hash;
  hash.update = ((data: string | NodeJS.ArrayBufferView, encoding?: BufferEncoding) => {
    hashed[purpose] += typeof data === 'string' ? Buffer.byteLength(data, encoding) : data.byteLength;
    return update(data, encoding);
  }) as Hash['update'];
  return hash;
}
