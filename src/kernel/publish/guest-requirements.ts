import { KartError } from '../../errors.ts';
import type { KernelConfig } from '../config/index.ts';
import { checkConfig, loadFlavor } from '../flavor/index.ts';
import type { GuestBundle } from '../../guest/bundle/index.ts';

const FILESYSTEM_SYMBOL = { ext4: 'CONFIG_EXT4_FS', erofs: 'CONFIG_EROFS_FS', xfs: 'CONFIG_XFS_FS' } as const;

/**
 * A verity bundle boots with no initramfs: the kernel itself builds the verity target from
 * dm-mod.create, so beyond the dm-verity flavor (DM_INIT, BLK_DEV_DM, DM_VERITY, sha256) the disk
 * driver and the root filesystem must be built in too (the research's kernelinit notes). A publish
 * whose kernel could not mount its own image is refused (REQUIREMENTS_UNMET, exit 1).
 */
export async function checkGuestKernelConfig(
  config: KernelConfig,
  bundle: GuestBundle,
  where: string,
): Promise<void> {
  if (bundle.verity === undefined) return;
  const failures = checkConfig(config, [await loadFlavor('dm-verity')]).flavors.flatMap((result) =>
    result.failures.map((failure) => failure.message),
  );
  for (const symbol of ['CONFIG_VIRTIO_BLK', FILESYSTEM_SYMBOL[bundle.fsType]]) {
    const entry = config.get(symbol);
    if (entry?.value.kind !== 'tristate' || entry.value.value !== 'y') {
      failures.push(
        `${symbol} must be y (built in: no initramfs loads it), is ${entry === undefined ? 'not set' : entry.value.kind === 'tristate' ? entry.value.value : entry.value.kind}`,
      );
    }
  }
  if (failures.length > 0) {
    throw new KartError(
      'REQUIREMENTS_UNMET',
      `${where} cannot boot a dm-verity rootfs without an initramfs (${failures.length} requirement${failures.length === 1 ? '' : 's'} failed):\n  ${failures.join('\n  ')}`,
      {
        exitCode: 1,
        hint: 'build the kernel with the dm-verity flavor and the block driver and filesystem =y',
        details: { failures },
      },
    );
  }
}
