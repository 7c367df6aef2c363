import { join } from 'node:path';
import {
  formatKernelVerityParams,
  parseKernelVerityParams,
  type KernelVerityParams,
} from '../boot/kernel-verity-params.ts';
import type { RootFsType } from '../boot/kernel-command-line.ts';
import { buildRootfsImage } from '../rootfs/build-rootfs.ts';
import { readImageFacts, type ImageFacts } from '../rootfs/read-image-layout.ts';
import { checkImageVerity } from './check-image-verity.ts';
import { ANNOTATIONS, METADATA_KEYS, ROOTFS_LAYER_PATH } from './bundle-keys.ts';
import { bundleInvalid } from './bundle-errors.ts';

export interface GuestBundleSource {
  /** a built image (kart rootfs build, or Kata's image_builder.sh) */
  rootfs?: string;
  /** a tree to build with DAX and verity, as `kart rootfs build --dax --verity` */
  rootfsDir?: string;
  /** with `rootfs`: its kernel_verity_params (Kata's root_hash_<variant>.txt line); checked against the image */
  verityParams?: string;
  sourceDateEpoch?: number;
  /** with `rootfsDir`: the image size multiple in MiB (default 128, Kata's) */
  alignMiB?: number;
}

/** What publish adds to the kernel artifact for a guest bundle. */
export interface GuestBundle {
  /** the layer's path in the artifact and the file to pack */
  path: typeof ROOTFS_LAYER_PATH;
  file: string;
  size: number;
  fsType: RootFsType;
  dax: boolean;
  verity?: KernelVerityParams;
  metadata: Record<string, string>;
  annotations: Record<string, string>;
}

/**
 * Makes (or reads) the rootfs image for a bundle and pins its verity parameters: a built tree gets
 * the ones kart computed; a given image is checked against the given parameters before anything is
 * published, so a bundle's image and root hash can only ever agree.
 */
export async function prepareGuestBundle(source: GuestBundleSource, workDir: string): Promise<GuestBundle> {
  if ((source.rootfs === undefined) === (source.rootfsDir === undefined)) {
    throw bundleInvalid(
      'give exactly one of --rootfs IMAGE and --rootfs-dir DIR',
      'one bundle has one image',
    );
  }
  let file: string;
  let facts: ImageFacts;
  let verity: KernelVerityParams | undefined;
  if (source.rootfsDir !== undefined) {
    if (source.verityParams !== undefined) {
      throw bundleInvalid('--verity-params goes with --rootfs IMAGE', 'kart computes them for --rootfs-dir');
    }
    file = join(workDir, 'rootfs.img');
    const built = await buildRootfsImage({
      sourceDir: source.rootfsDir,
      output: file,
      dax: true,
      verity: true,
      ...(source.sourceDateEpoch === undefined ? {} : { sourceDateEpoch: source.sourceDateEpoch }),
      ...(source.alignMiB === undefined ? {} : { alignMiB: source.alignMiB }),
    });
    verity = parseKernelVerityParams(built.kernelVerityParams ?? '');
    facts = await readImageFacts(file);
  } else {
    file = source.rootfs!;
    facts = await readImageFacts(file);
    if (source.verityParams !== undefined) {
      verity = parseKernelVerityParams(source.verityParams);
      if (verity !== undefined) await checkImageVerity(file, facts, verity, `--rootfs ${file}`);
    }
    if (verity === undefined && facts.hash !== undefined) {
      // A hash tree with no parameters would be published unchecked and pulled unverifiable.
      throw bundleInvalid(
        `${file} has a dm-verity partition but no --verity-params were given`,
        "pass the image's kernel_verity_params (Kata writes them to root_hash_<variant>.txt)",
      );
    }
  }
  if (facts.fsType === undefined) {
    throw bundleInvalid(
      `${file}: partition 1 holds no ext4, erofs or xfs filesystem`,
      'pass a Kata guest image',
    );
  }
  const metadata: Record<string, string> = {
    [METADATA_KEYS.fsType]: facts.fsType,
    [METADATA_KEYS.dax]: facts.dax ? 'yes' : 'no',
    [METADATA_KEYS.imageBytes]: String(facts.imageBytes),
    ...(verity === undefined ? {} : { [METADATA_KEYS.verityParams]: formatKernelVerityParams(verity) }),
  };
  const annotations: Record<string, string> = {
    [ANNOTATIONS.fsType]: facts.fsType,
    [ANNOTATIONS.dax]: facts.dax ? 'true' : 'false',
    [ANNOTATIONS.imageBytes]: String(facts.imageBytes),
    ...(verity === undefined ? {} : { [ANNOTATIONS.kataVerityParams]: formatKernelVerityParams(verity) }),
  };
  return {
    path: ROOTFS_LAYER_PATH,
    file,
    size: facts.imageBytes,
    fsType: facts.fsType,
    dax: facts.dax,
    ...(verity === undefined ? {} : { verity }),
    metadata,
    annotations,
  };
}
