import { createHash } from 'node:crypto';

/**
 * A UUID that is a function of its inputs (SHA-256 of a label and a seed, with RFC 9562 version 8
 * and variant bits), so a rebuild of the same input writes the same UUID and the same bytes.
 */
export function derivedUuid(label: string, seed: Uint8Array): string {
  const bytes = createHash('sha256').update(label).update(seed).digest().subarray(0, 16);
  bytes[6] = (bytes[6]! & 0x0f) | 0x80;
  bytes[8] = (bytes[8]! & 0x3f) | 0x80;
  const hex = bytes.toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}
