/**
 * The NVDIMM "pfn info" block (struct nd_pfn_sb, Linux drivers/nvdimm/pfn.h) that Kata's nsdax tool
 * writes at 4 KiB into a DAX image, so the guest kernel maps the file as a pmem namespace whose
 * data starts at `dataOffset` (2 MiB, where the second MBR is). Little endian, 4096 bytes.
 */
export const ND_PFN_INFO_OFFSET = 4096;
export const ND_PFN_INFO_BYTES = 4096;
const SIGNATURE = 'NVDIMM_PFN_INFO\0';

/** Whether the block starts with the nd_pfn_sb signature (the image is meant to be mapped as DAX). */
export function hasNdPfnSignature(block: Buffer): boolean {
  return block.toString('latin1', 0, 16) === SIGNATURE;
}
const PFN_MODE_RAM = 1;
const CHECKSUM_OFFSET = 4088;

export interface NdPfnInfo {
  /** namespace-relative start of the data (Kata: 2 MiB) */
  dataOffset: number;
  /** alignment (Kata: 2 MiB) */
  align: number;
}

/**
 * The kernel's nd_fletcher64 (drivers/nvdimm/core.c): over little-endian u32 words, a 32-bit running
 * sum and a 64-bit sum of those sums, computed with the checksum field zeroed.
 */
export function ndFletcher64(block: Buffer): bigint {
  let lo = 0;
  let hi = 0n;
  for (let at = 0; at + 4 <= block.length; at += 4) {
    lo = (lo + block.readUInt32LE(at)) >>> 0;
    hi = (hi + BigInt(lo)) & 0xffffffffffffffffn;
  }
  return ((hi << 32n) | BigInt(lo)) & 0xffffffffffffffffn;
}

/** The block as nsdax writes it: version 0.2, mode RAM, zero UUIDs, npfns and pads, checksum last. */
export function encodeNdPfnInfo(info: NdPfnInfo): Buffer {
  const block = Buffer.alloc(ND_PFN_INFO_BYTES);
  block.write(SIGNATURE, 0, 'latin1');
  block.writeUInt16LE(0, 52);
  block.writeUInt16LE(2, 54);
  block.writeBigUInt64LE(BigInt(info.dataOffset), 56);
  block.writeUInt32LE(PFN_MODE_RAM, 72);
  block.writeUInt32LE(info.align, 84);
  block.writeBigUInt64LE(ndFletcher64(block), CHECKSUM_OFFSET);
  return block;
}

/**
 * Reads a block the way the kernel's nd_pfn_validate does before it maps the namespace: the
 * signature, the checksum (computed with its own field zeroed), and a data offset that is page
 * aligned. Returns why it would be rejected, or the block's data offset.
 */
export function decodeNdPfnInfo(block: Buffer): { dataOffset: number } | { invalid: string } {
  if (!hasNdPfnSignature(block)) return { invalid: 'no NVDIMM_PFN_INFO signature' };
  const stored = block.readBigUInt64LE(CHECKSUM_OFFSET);
  const zeroed = Buffer.from(block);
  zeroed.fill(0, CHECKSUM_OFFSET);
  const computed = ndFletcher64(zeroed);
  if (stored !== computed) {
    return {
      invalid: `checksum 0x${stored.toString(16)} is not the block's fletcher64 0x${computed.toString(16)}`,
    };
  }
  const dataOffset = block.readBigUInt64LE(56);
  if (dataOffset === 0n || dataOffset % 4096n !== 0n || dataOffset > BigInt(Number.MAX_SAFE_INTEGER)) {
    return { invalid: `dataoff ${dataOffset} is not a page-aligned offset` };
  }
  return { dataOffset: Number(dataOffset) };
}
