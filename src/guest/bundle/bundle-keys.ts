/**
 * How a guest bundle is marked in the kernel artifact. The rootfs image travels as one more layer
 * (`kernel/rootfs.img`, before `kernel/metadata`); its verity parameters and shape are in
 * kernel/metadata (extra keys, which older readers ignore) and in manifest annotations, so a client
 * can read them without fetching a blob. The Kata key is the one Kata reads as a pod annotation.
 */
export const ROOTFS_LAYER_PATH = 'kernel/rootfs.img';
export const ROOTFS_INSTALLED_NAME = 'rootfs.img';

export const METADATA_KEYS = {
  fsType: 'ROOTFS_FSTYPE',
  dax: 'ROOTFS_DAX',
  imageBytes: 'ROOTFS_SIZE',
  verityParams: 'KERNEL_VERITY_PARAMS',
} as const;

export const ANNOTATIONS = {
  fsType: 'dev.edera.kernel.rootfs.fstype',
  dax: 'dev.edera.kernel.rootfs.dax',
  /** the image's size in bytes: pull lets the image's layer expand to it (install-limits.ts) */
  imageBytes: 'dev.edera.kernel.rootfs.size',
  kataVerityParams: 'io.katacontainers.config.hypervisor.kernel_verity_params',
} as const;

/** Files written beside the installed image, so a Kata configuration points at one directory. */
export const INSTALLED_PARAMS_FILE = 'kernel_verity_params';
export const INSTALLED_CMDLINE_FILES = {
  'virtio-blk': 'cmdline.virtio-blk',
  nvdimm: 'cmdline.nvdimm',
} as const;
