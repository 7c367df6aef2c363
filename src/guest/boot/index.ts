export {
  parseKernelVerityParams,
  formatKernelVerityParams,
  kernelVerityParamsOf,
  kernelVerityParamsLine,
  type KernelVerityParams,
} from './kernel-verity-params.ts';
export {
  kernelCommandLine,
  parseDmVerityCreate,
  parseGuestDisk,
  parseRootFsType,
  type KernelCommandLine,
  type GuestDisk,
  type RootFsType,
} from './kernel-command-line.ts';
