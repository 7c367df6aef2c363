import { writeFileSync } from 'node:fs';
import type { Hash } from 'node:crypto';

/**
 * Bench instrumentation, off in normal runs: with KART_COUNT_HASHED_BYTES=FILE in the environment,
 * every digest hasher kart makes counts the bytes it hashes, and the process writes the total to FILE
 * as it exits. bench/ divides it by the bytes a pull moved, so "each layer byte hashed once" is a
 * count, not a guess. Unset, a hasher is returned untouched.
 */
const COUNT_FILE = process.env.KART_COUNT_HASHED_BYTES;
let hashed = 0;
if (COUNT_FILE) process.on('exit', () => writeFileSync(COUNT_FILE, `${hashed}\n`));

export function countHashedBytes(hash: Hash): Hash {
  if (!COUNT_FILE) return hash;
  const update = hash.update.bind(hash) as (
    data: string | NodeJS.ArrayBufferView,
    encoding?: BufferEncoding,
  ) => Hash;
  hash.update = ((data: string | NodeJS.ArrayBufferView, encoding?: BufferEncoding) => {
    hashed += typeof data === 'string' ? Buffer.byteLength(data, encoding) : data.byteLength;
    return update(data, encoding);
  }) as Hash['update'];
  return hash;
}
