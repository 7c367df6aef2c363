import { SUPERBLOCK_SIZE } from './hash-tree-geometry.ts';

/**
 * cryptsetup's on-disk dm-verity superblock (lib/verity/verity.c struct verity_sb, 512 bytes, little
 * endian). The kernel never reads it; veritysetup does, so a tree with it opens without the parameters.
 */
export interface VeritySuperblock {
  hashType: number;
  uuid: string;
  algorithm: string;
  dataBlockSize: number;
  hashBlockSize: number;
  dataBlocks: number;
  salt: Buffer;
}

const SIGNATURE = Buffer.from('verity\0\0', 'latin1');
const UUID_PATTERN = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
export const MAX_SALT_BYTES = 256;

export function isUuid(value: string): boolean {
  return UUID_PATTERN.test(value);
}

export function encodeSuperblock(sb: VeritySuperblock): Buffer {
  const out = Buffer.alloc(SUPERBLOCK_SIZE);
  SIGNATURE.copy(out, 0);
  out.writeUInt32LE(1, 8);
  out.writeUInt32LE(sb.hashType, 12);
  Buffer.from(sb.uuid.replaceAll('-', ''), 'hex').copy(out, 16);
  out.write(sb.algorithm, 32, 31, 'latin1');
  out.writeUInt32LE(sb.dataBlockSize, 64);
  out.writeUInt32LE(sb.hashBlockSize, 68);
  out.writeBigUInt64LE(BigInt(sb.dataBlocks), 72);
  out.writeUInt16LE(sb.salt.length, 80);
  sb.salt.copy(out, 88);
  return out;
}

/** Decodes a superblock, or returns why these bytes are not one. */
export function decodeSuperblock(bytes: Buffer): VeritySuperblock | string {
  if (bytes.length < SUPERBLOCK_SIZE) return 'the device ends before 512 bytes';
  if (!bytes.subarray(0, 8).equals(SIGNATURE)) return 'no "verity" signature';
  const version = bytes.readUInt32LE(8);
  if (version !== 1) return `superblock version ${version} (only 1 exists)`;
  const hashType = bytes.readUInt32LE(12);
  if (hashType !== 1) return `hash type ${hashType} (kart computes format 1)`;
  const saltSize = bytes.readUInt16LE(80);
  if (saltSize > MAX_SALT_BYTES) return `salt size ${saltSize} exceeds ${MAX_SALT_BYTES}`;
  const nul = bytes.indexOf(0, 32);
  const algorithm = bytes.toString('latin1', 32, nul < 0 || nul > 64 ? 64 : nul);
  const hex = bytes.toString('hex', 16, 32);
  const uuid = `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
  const dataBlocks = bytes.readBigUInt64LE(72);
  if (dataBlocks > BigInt(Number.MAX_SAFE_INTEGER)) return `data blocks ${dataBlocks} is out of range`;
  return {
    hashType,
    uuid,
    algorithm,
    dataBlockSize: bytes.readUInt32LE(64),
    hashBlockSize: bytes.readUInt32LE(68),
    dataBlocks: Number(dataBlocks),
    salt: Buffer.from(bytes.subarray(88, 88 + saltSize)),
  };
}
