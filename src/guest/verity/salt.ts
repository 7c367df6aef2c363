import { createHash, randomBytes } from 'node:crypto';
import { MAX_SALT_BYTES } from './superblock.ts';
import { veritySaltInvalid } from './verity-errors.ts';
import { readBlocks, type BlockRange } from './block-reader.ts';

/** How the salt is chosen: given bytes, 32 random bytes (veritysetup's and Kata's default), or from the data. */
export type SaltChoice = Buffer | 'random' | 'content';

export const SALT_BYTES = 32;

/** `--salt` as a user writes it: hex, `random`, or `content`. */
export function parseSaltChoice(value: string): SaltChoice {
  if (value === 'random' || value === 'content') return value;
  return parseSaltHex(value);
}

export function parseSaltHex(value: string): Buffer {
  if (value.length === 0) throw veritySaltInvalid(value, 'is empty');
  if (!/^(?:[0-9a-fA-F]{2})+$/.test(value))
    throw veritySaltInvalid(value, 'is not an even number of hex digits');
  if (value.length / 2 > MAX_SALT_BYTES)
    throw veritySaltInvalid(value, `is longer than ${MAX_SALT_BYTES} bytes`);
  return Buffer.from(value, 'hex');
}

/**
 * The content salt: SHA-256 over a fixed label and the data blocks themselves. The same data always
 * gets the same salt and so the same root hash (a rebuild is checkable), while two different images
 * never share a salt, which is what the salt is for. It costs one more read of the data.
 */
export async function contentSalt(range: BlockRange): Promise<Buffer> {
  const hash = createHash('sha256').update('kart dm-verity content salt v1\n');
  for await (const chunk of readBlocks(range)) hash.update(chunk);
  return hash.digest();
}

export async function resolveSalt(choice: SaltChoice, range: BlockRange): Promise<Buffer> {
  if (choice === 'random') return randomBytes(SALT_BYTES);
  if (choice === 'content') return contentSalt(range);
  return choice;
}
