/** The kernel install core: verified, layer-by-layer, atomically swapped (used by unpack and pull -k). */
export {
  installKernel,
  type InstallKernelOptions,
  type InstallResult,
  type InstalledFile,
  type InstalledFileName,
} from './install-kernel.ts';
export { requireFlavor, type FlavorSubject } from './flavor-requirement.ts';
export { selectKernelManifest, type KernelManifestChoice } from './select-platform.ts';
export { installAreaDir, tidyInstallArea, versionHolds } from './install-area.ts';
export {
  LayerTree,
  type LayerEntry,
  type LayerEntryType,
  type StagedFile,
  type ApplyLayerOptions,
} from './layer-tree.ts';
export { layerCompression, type LayerCompression } from './layer-decompression.ts';
