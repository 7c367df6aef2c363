import { KartError } from '../../errors.ts';
import { dmCreateInvalid } from './boot-errors.ts';
import type { KernelVerityParams } from './kernel-verity-params.ts';

/** How the guest sees the image: a virtio-blk disk, or Kata's NVDIMM (DAX) mapping of the file. */
export type GuestDisk = 'virtio-blk' | 'nvdimm';
export type RootFsType = 'ext4' | 'xfs' | 'erofs';

const DISK_PARTITIONS: Record<GuestDisk, readonly [string, string]> = {
  'virtio-blk': ['/dev/vda1', '/dev/vda2'],
  nvdimm: ['/dev/pmem0p1', '/dev/pmem0p2'],
};

/** Kata's rootflags per filesystem (hypervisor.go, kernel_param.rs); DAX flags are never used with verity. */
const ROOT_FLAGS: Record<RootFsType, string> = {
  ext4: 'data=ordered,errors=remount-ro ro',
  xfs: 'ro',
  erofs: 'ro',
};

/** dm-init refuses a dm-mod.create value of DM_MAX_STR_SIZE (4096) bytes or more. */
const DM_MAX_STR_SIZE = 4096;

export interface KernelCommandLine {
  /** the dm-mod.create value without its quotes */
  dmCreate: string;
  /** `key=value` parameters in Kata's order, dm-mod.create's value in double quotes */
  params: string[];
  /** the params joined by single spaces, ready to append to a kernel command line */
  line: string;
}

/**
 * The root parameters Kata's shims put on the kernel line in kernelinit mode (Go GetKernelRootParams,
 * Rust new_rootfs_kernel_params): one read-only verity target over partition 1 with its tree in
 * partition 2 from hash block 0, sha256, no optional arguments, mounted as /dev/dm-0.
 */
export function kernelCommandLine(
  verity: KernelVerityParams,
  disk: GuestDisk = 'virtio-blk',
  fsType: RootFsType = 'ext4',
): KernelCommandLine {
  const [dataDevice, hashDevice] = DISK_PARTITIONS[disk];
  const sectors = (verity.dataBlockSize / 512) * verity.dataBlocks;
  const dmCreate =
    `dm-verity,,,ro,0 ${sectors} verity 1 ${dataDevice} ${hashDevice} ` +
    `${verity.dataBlockSize} ${verity.hashBlockSize} ${verity.dataBlocks} 0 sha256 ${verity.rootHash} ${verity.salt}`;
  if (dmCreate.length >= DM_MAX_STR_SIZE)
    throw dmCreateInvalid(`${dmCreate.length} bytes; the kernel takes < 4096`);
  const params = [
    `dm-mod.create="${dmCreate}"`,
    'root=/dev/dm-0',
    `rootflags=${ROOT_FLAGS[fsType]}`,
    `rootfstype=${fsType}`,
  ];
  return { dmCreate, params, line: params.join(' ') };
}

const TABLE = /^dm-verity,,,ro,0 (\d+) verity 1 (\S+) (\S+) (\d+) (\d+) (\d+) 0 sha256 (\S+) (\S+)$/;

/**
 * Reads back a dm-mod.create value of the shape kernelCommandLine writes (quotes optional), checking
 * that its sector count agrees with its blocks. Anything else (other targets, optional arguments,
 * several tables) is DM_CREATE_INVALID: kart only reads back what Kata writes.
 */
export function parseDmVerityCreate(
  value: string,
): KernelVerityParams & { dataDevice: string; hashDevice: string } {
  const unquoted =
    value.startsWith('"') && value.endsWith('"') && value.length >= 2 ? value.slice(1, -1) : value;
  const match = TABLE.exec(unquoted);
  if (match === null) throw dmCreateInvalid(`"${value}" is not a Kata dm-verity table`);
  const [, sectors, dataDevice, hashDevice, dataBlockSize, hashBlockSize, dataBlocks, rootHash, salt] =
    match as unknown as string[];
  const parsed = {
    rootHash: rootHash!,
    salt: salt!,
    dataBlocks: Number(dataBlocks),
    dataBlockSize: Number(dataBlockSize),
    hashBlockSize: Number(hashBlockSize),
    dataDevice: dataDevice!,
    hashDevice: hashDevice!,
  };
  if (Number(sectors) !== (parsed.dataBlockSize / 512) * parsed.dataBlocks) {
    throw dmCreateInvalid(
      `${sectors} sectors do not match ${parsed.dataBlocks} blocks of ${parsed.dataBlockSize} bytes`,
    );
  }
  return parsed;
}

export function parseGuestDisk(value: string): GuestDisk {
  if (value === 'virtio-blk' || value === 'nvdimm') return value;
  throw new KartError('GUEST_DISK_INVALID', `disk "${value}" is not virtio-blk or nvdimm`, {
    hint: 'virtio-blk: /dev/vda (confidential guests); nvdimm: /dev/pmem0 (a DAX image)',
  });
}

export function parseRootFsType(value: string): RootFsType {
  if (value === 'ext4' || value === 'xfs' || value === 'erofs') return value;
  throw new KartError('ROOTFS_TYPE_INVALID', `filesystem "${value}" is not ext4, xfs or erofs`, {
    hint: 'Kata boots ext4 (default), xfs or erofs root filesystems',
  });
}
