export { formatVerity, DEFAULT_BLOCK_SIZE, type VerityFormatOptions } from './format-verity.ts';
export { verifyVerity, type VerityVerifyOptions } from './verify-verity.ts';
export { hashTreeGeometry, type HashTreeGeometry, type HashLevel } from './hash-tree-geometry.ts';
export { parseSaltChoice, parseSaltHex, contentSalt, type SaltChoice } from './salt.ts';
export { encodeSuperblock, decodeSuperblock, type VeritySuperblock } from './superblock.ts';
export { hashDeviceSize, type VerityParams } from './verity-params.ts';
