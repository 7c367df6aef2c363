import { KartError } from '../../errors.ts';
import type { KernelArch } from '../image/types.ts';

/** Kernel architecture names (uname -m, KERNEL_ARCH) against OCI platform names (GOARCH). */
export type OciKernelArch = 'amd64' | 'arm64';

const TO_OCI: Record<KernelArch, OciKernelArch> = { x86_64: 'amd64', aarch64: 'arm64' };
const TO_KERNEL: Record<OciKernelArch, KernelArch> = { amd64: 'x86_64', arm64: 'aarch64' };

export function ociArchOf(arch: KernelArch): OciKernelArch {
  return TO_OCI[arch];
}

export function kernelArchOf(arch: OciKernelArch): KernelArch {
  return TO_KERNEL[arch];
}

/** Accepts either spelling (amd64 or x86_64, arm64 or aarch64, and `aarch64` as BuildKit's platform). */
export function parseArchOption(value: string): OciKernelArch {
  if (value === 'amd64' || value === 'x86_64') return 'amd64';
  if (value === 'arm64' || value === 'aarch64') return 'arm64';
  throw new KartError('ARCH_INVALID', `architecture "${value}" is not one kart publishes`, {
    hint: 'use amd64 (x86_64) or arm64 (aarch64)',
  });
}

/** The host's architecture as an OCI platform name, for pulls without --arch. */
export function hostOciArch(): OciKernelArch {
  return process.arch === 'arm64' ? 'arm64' : 'amd64';
}
