import type { HashTreeGeometry } from './hash-tree-geometry.ts';

/** Everything needed to open (or put on a kernel command line) one dm-verity device. */
export interface VerityParams {
  /** hex */
  rootHash: string;
  /** hex */
  salt: string;
  hashAlgorithm: string;
  /** dm-verity format ("version" in the table); kart computes format 1 */
  hashType: 1;
  dataBlocks: number;
  dataBlockSize: number;
  hashBlockSize: number;
  /** Byte offset of the data area in its file (0 for a plain data file). */
  dataOffset: number;
  /** Byte offset in the hash file where the hash device begins (the superblock, if any, is there). */
  hashOffset: number;
  /** First tree block, in hash blocks from `hashOffset`: the table's `<hash_start_block>`. */
  hashStartBlock: number;
  hashBlocks: number;
  superblock: boolean;
  /** The superblock's UUID (absent without a superblock). */
  uuid?: string;
}

/** Bytes the hash device needs from `hashOffset`: superblock area plus the whole tree. */
export function hashDeviceSize(
  params: Pick<VerityParams, 'hashStartBlock' | 'hashBlocks' | 'hashBlockSize'>,
): number {
  return (params.hashStartBlock + params.hashBlocks) * params.hashBlockSize;
}

/** The parameters of a tree laid out as `geometry`, once its root is known. */
export function paramsOf(
  geometry: HashTreeGeometry,
  facts: {
    rootHash: Buffer;
    salt: Buffer;
    hashAlgorithm: string;
    dataOffset: number;
    hashOffset: number;
    superblock: boolean;
    uuid: string | undefined;
  },
): VerityParams {
  return {
    rootHash: facts.rootHash.toString('hex'),
    salt: facts.salt.toString('hex'),
    hashAlgorithm: facts.hashAlgorithm,
    hashType: 1,
    dataBlocks: geometry.dataBlocks,
    dataBlockSize: geometry.dataBlockSize,
    hashBlockSize: geometry.hashBlockSize,
    dataOffset: facts.dataOffset,
    hashOffset: facts.hashOffset,
    hashStartBlock: geometry.treeStartBlock,
    hashBlocks: geometry.hashBlocks,
    superblock: facts.superblock,
    ...(facts.uuid === undefined ? {} : { uuid: facts.uuid }),
  };
}
