/** `kart pull -k`: resolve a kernel by tag, fill the cache, install into DEST atomically. */
export {
  pullKernel,
  type PullKernelOptions,
  type PullKernelResult,
  type PulledBlob,
  type PulledFile,
} from './pull-kernel.ts';
export { intactInstall, type InstalledState } from './installed-state.ts';
