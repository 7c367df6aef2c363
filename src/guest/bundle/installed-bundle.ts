import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { writeFileAtomic } from '../../oci/atomic-file.ts';
import { kernelCommandLine, type GuestDisk, type RootFsType } from '../boot/kernel-command-line.ts';
import { parseKernelVerityParams } from '../boot/kernel-verity-params.ts';
import { readImageFacts } from '../rootfs/read-image-layout.ts';
import { checkImageVerity } from './check-image-verity.ts';
import {
  INSTALLED_CMDLINE_FILES,
  INSTALLED_PARAMS_FILE,
  METADATA_KEYS,
  ROOTFS_INSTALLED_NAME,
} from './bundle-keys.ts';
import { bundleInvalid } from './bundle-errors.ts';

/** What pull -k reports about an installed guest bundle. */
export interface InstalledGuest {
  image: string;
  fsType: RootFsType;
  dax: boolean;
  /** the verified kernel_verity_params line (verity bundles) */
  kernelVerityParams?: string;
  kernelCommandLines?: Partial<Record<GuestDisk, string>>;
}

/**
 * The install hook for a bundle: with the files staged and before DEST is swapped, recompute the
 * staged image's root hash against the parameters published with it (a mismatch throws, so nothing
 * is installed) and write the knob and the kernel lines beside the image. A kernel without a rootfs
 * layer returns undefined.
 */
export async function checkStagedGuest(
  staging: string,
  metadataExtra: Readonly<Record<string, string>>,
  where: string,
): Promise<InstalledGuest | undefined> {
  const image = join(staging, ROOTFS_INSTALLED_NAME);
  // No catch: a staged image kart cannot read, or whose DAX view disagrees, is refused, not installed.
  const facts = await readImageFacts(image);
  const fsType = metadataExtra[METADATA_KEYS.fsType] ?? facts.fsType;
  if (fsType !== 'ext4' && fsType !== 'erofs' && fsType !== 'xfs') {
    throw bundleInvalid(`${where}: the rootfs image holds no filesystem kart knows`, 'republish the bundle');
  }
  const guest: InstalledGuest = { image: ROOTFS_INSTALLED_NAME, fsType, dax: facts.dax };
  const line = metadataExtra[METADATA_KEYS.verityParams];
  const verity = line === undefined ? undefined : parseKernelVerityParams(line);
  if (verity === undefined) return guest;
  await checkImageVerity(image, facts, verity, where);
  const disks: GuestDisk[] = facts.dax ? ['virtio-blk', 'nvdimm'] : ['virtio-blk'];
  guest.kernelVerityParams = line;
  guest.kernelCommandLines = {};
  await writeFileAtomic(join(staging, INSTALLED_PARAMS_FILE), `${line}\n`);
  for (const disk of disks) {
    const cmdline = kernelCommandLine(verity, disk, fsType).line;
    guest.kernelCommandLines[disk] = cmdline;
    await writeFileAtomic(join(staging, INSTALLED_CMDLINE_FILES[disk]), `${cmdline}\n`);
  }
  return guest;
}

/** The same facts for a DEST that already holds the bundle (read from the files written at install). */
export async function readInstalledGuest(dest: string): Promise<InstalledGuest | undefined> {
  const facts = await readImageFacts(join(dest, ROOTFS_INSTALLED_NAME)).catch(() => undefined);
  if (facts === undefined || facts.fsType === undefined) return undefined;
  const guest: InstalledGuest = { image: ROOTFS_INSTALLED_NAME, fsType: facts.fsType, dax: facts.dax };
  const line = await readFile(join(dest, INSTALLED_PARAMS_FILE), 'utf8').catch(() => undefined);
  if (line === undefined) return guest;
  guest.kernelVerityParams = line.trimEnd();
  guest.kernelCommandLines = {};
  for (const [disk, name] of Object.entries(INSTALLED_CMDLINE_FILES) as Array<[GuestDisk, string]>) {
    const text = await readFile(join(dest, name), 'utf8').catch(() => undefined);
    if (text !== undefined) guest.kernelCommandLines[disk] = text.trimEnd();
  }
  return guest;
}
