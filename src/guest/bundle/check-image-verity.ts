import { isKartError } from '../../errors.ts';
import type { KernelVerityParams } from '../boot/kernel-verity-params.ts';
import type { ImageFacts } from '../rootfs/read-image-layout.ts';
import { verifyVerity } from '../verity/verify-verity.ts';
import { bundleInvalid, bundleRootHashMismatch } from './bundle-errors.ts';

/**
 * Recomputes the image's hash tree (partition 1 against partition 2, the layout Kata's kernel line
 * names) and its root hash, and fails with BUNDLE_ROOT_HASH_MISMATCH (exit 1) unless they are exactly
 * the published parameters.
 */
export async function checkImageVerity(
  image: string,
  facts: ImageFacts,
  verity: KernelVerityParams,
  where: string,
): Promise<void> {
  if (facts.hash === undefined) {
    throw bundleInvalid(`${where}: the image has no partition 2 for its hash tree`, 'build it with --verity');
  }
  if (verity.dataBlocks * verity.dataBlockSize > facts.data.bytes) {
    throw bundleInvalid(
      `${where}: data_blocks=${verity.dataBlocks} covers more than partition 1 (${facts.data.bytes} bytes)`,
      'the parameters belong to another image',
    );
  }
  try {
    await verifyVerity({
      dataPath: image,
      hashPath: image,
      dataOffset: facts.data.offset,
      hashOffset: facts.hash.offset,
      dataBlocks: verity.dataBlocks,
      dataBlockSize: verity.dataBlockSize,
      hashBlockSize: verity.hashBlockSize,
      rootHash: verity.rootHash,
      salt: verity.salt,
      superblock: false,
    });
  } catch (error) {
    if (isKartError(error) && (error.code === 'VERITY_MISMATCH' || error.code === 'VERITY_HASH_TOO_SHORT')) {
      throw bundleRootHashMismatch(where, error);
    }
    throw error;
  }
}
