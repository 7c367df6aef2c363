import { KartError } from '../../errors.ts';

export function rootfsLayoutInvalid(imageMiB: number, partition: number): KartError {
  return new KartError(
    'ROOTFS_LAYOUT_INVALID',
    `a ${imageMiB} MiB image: the two partition tables disagree on partition ${partition} (or it is empty)`,
    { hint: "use an alignment of 128 MiB (the default), where Kata's two tables always agree" },
  );
}

export function rootfsSourceInvalid(path: string, why: string): KartError {
  return new KartError('ROOTFS_SOURCE_INVALID', `${path}: ${why}`, {
    hint: 'pass the directory holding the guest root filesystem (an extracted image)',
  });
}

export function rootfsNoInit(dir: string): KartError {
  return new KartError(
    'ROOTFS_NO_INIT',
    `${dir} has neither sbin/init nor usr/bin/kata-agent: the guest would not boot`,
    {
      hint: 'install an init (or the Kata agent) into the tree, or pass --no-init-check for a data-only image',
    },
  );
}

export function rootfsNameUnsupported(path: string): KartError {
  return new KartError(
    'ROOTFS_NAME_UNSUPPORTED',
    `${JSON.stringify(path)}: names with a newline or a double quote are not supported`,
    {
      hint: 'rename the file; kart sets owners and times through debugfs, which cannot quote these',
    },
  );
}

export function rootfsOptionInvalid(what: string, hint: string): KartError {
  return new KartError('ROOTFS_OPTION_INVALID', what, { hint });
}

export function rootfsToolMissing(tool: string, pkg: string, cause: unknown): KartError {
  return new KartError('ROOTFS_TOOL_MISSING', `${tool} is not installed`, {
    hint: `install the Debian package ${pkg}`,
    cause,
  });
}

export function rootfsToolFailed(tool: string, status: string, stderr: string): KartError {
  const tail = stderr.trim().split('\n').slice(-3).join(' / ');
  return new KartError('ROOTFS_TOOL_FAILED', `${tool} failed (${status})${tail === '' ? '' : `: ${tail}`}`, {
    hint: "the message above is the tool's own; check the source tree and free disk space",
    details: { tool, status },
  });
}

/**
 * A DAX image whose NVDIMM view (nd_pfn_sb, then MBR #2 at its dataoff, the table the guest reads
 * as /dev/pmem0) would not show the partitions the virtio-blk view (MBR #1) shows and kart checked.
 */
export function rootfsDaxViewInvalid(path: string, why: string): KartError {
  return new KartError('ROOTFS_DAX_VIEW_INVALID', `${path}: the NVDIMM (DAX) view of the image ${why}`, {
    exitCode: 1,
    hint: "the image's DAX header is damaged or was edited; rebuild it (kart rootfs build --dax, or Kata's image_builder.sh)",
  });
}
