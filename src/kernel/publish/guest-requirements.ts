import { KartError } from '../../errors.ts';
import type { KernelConfig } from '../config/index.ts';
import { checkConfig, loadFlavor } from '../flavor/index.ts';
import type { GuestBundle } from '../../guest/bundle/index.ts';

const FILESYSTEM_SYMBOL = { ext4: 'CONFIG_EXT4_FS', erofs: 'CONFIG_EROFS_FS', xfs: 'CONFIG_XFS_FS' } as const;

/**
 * What a DAX bundle's kernel needs to see the image as /dev/pmem0 with no initramfs: the NVDIMM bus
 * (LIBNVDIMM) on the ACPI NFIT table QEMU describes the device with, the pmem block driver, and the
 * pfn namespace (ND_PFN/NVDIMM_PFN) that honours the nd_pfn_sb's dataoff, where MBR #2 is. Kata's
 * fragments/common/dax.conf and acpi.conf set them all =y. (ND_BTT is for sector mode, unused here.)
 */
const DAX_SYMBOLS = [
  'CONFIG_LIBNVDIMM',
  'CONFIG_ACPI_NFIT',
  'CONFIG_BLK_DEV_PMEM',
  'CONFIG_ND_PFN',
  'CONFIG_NVDIMM_PFN',
];

/**
 * A guest bundle boots with no initramfs, so what mounts its root must be built in. With verity the
 * kernel itself builds the verity target from dm-mod.create, so beyond the dm-verity flavor (DM_INIT,
 * BLK_DEV_DM, DM_VERITY, sha256) the virtio-blk driver and the root filesystem must be =y (the
 * research's kernelinit notes); a DAX image adds the NVDIMM stack (DAX_SYMBOLS). A publish whose
 * kernel could not mount its own image is refused (REQUIREMENTS_UNMET, exit 1), naming each option.
 */
export async function checkGuestKernelConfig(
  config: KernelConfig,
  bundle: GuestBundle,
  where: string,
): Promise<void> {
  if (bundle.verity === undefined && !bundle.dax) return;
  const failures =
    bundle.verity === undefined
      ? []
      : checkConfig(config, [await loadFlavor('dm-verity')]).flavors.flatMap((result) =>
          result.failures.map((failure) => failure.message),
        );
  const builtIn = [
    ...(bundle.verity === undefined ? [] : ['CONFIG_VIRTIO_BLK']),
    ...(bundle.dax ? DAX_SYMBOLS : []),
    FILESYSTEM_SYMBOL[bundle.fsType],
  ];
  for (const symbol of builtIn) {
    const entry = config.get(symbol);
    if (entry?.value.kind !== 'tristate' || entry.value.value !== 'y') {
      failures.push(
        `${symbol} must be y (built in: no initramfs loads it), is ${entry === undefined ? 'not set' : entry.value.kind === 'tristate' ? entry.value.value : entry.value.kind}`,
      );
    }
  }
  if (failures.length > 0) {
    const what = [bundle.verity === undefined ? '' : 'dm-verity', bundle.dax ? 'DAX (NVDIMM)' : '']
      .filter((part) => part !== '')
      .join(' ');
    throw new KartError(
      'REQUIREMENTS_UNMET',
      `${where} cannot boot a ${what} rootfs without an initramfs (${failures.length} requirement${failures.length === 1 ? '' : 's'} failed):\n  ${failures.join('\n  ')}`,
      {
        exitCode: 1,
        hint: `build the kernel with ${bundle.verity === undefined ? '' : 'the dm-verity flavor, '}the block driver${bundle.dax ? ', the NVDIMM stack' : ''} and the filesystem =y`,
        details: { failures },
      },
    );
  }
}
