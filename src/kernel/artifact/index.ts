export {
  formatKernelMetadata,
  parseKernelMetadata,
  MAX_METADATA_BYTES,
  type KernelMetadata,
  type ParsedKernelMetadata,
} from './metadata.ts';
export {
  discoverBuildInputs,
  type BuildInputOptions,
  type BuildInputs,
  type BuildInputChoice,
  type BuildInputRole,
  type AddonsInput,
} from './build-inputs.ts';
export { readConfigPayload, gzipConfig, type ConfigPayload } from './config-payload.ts';
export {
  measureLayer,
  pushLayer,
  type ArtifactFile,
  type MeasuredLayer,
  type LayerCompressionOption,
} from './kernel-layers.ts';
export {
  layerFiles,
  findLayerFile,
  annotatedLayerFile,
  LAYER_FILE_ANNOTATION,
  TITLE_ANNOTATION,
  type LayerFiles,
  type LayerFilesOptions,
} from './layer-files.ts';
export {
  ociArchOf,
  kernelArchOf,
  parseArchOption,
  hostOciArch,
  type OciKernelArch,
} from './kernel-platform.ts';
export {
  packKernel,
  type PackKernelOptions,
  type PackBundlePart,
  type PackKernelResult,
  type PackedFile,
  type PackTarget,
  type PackFormat,
} from './pack-kernel.ts';
export {
  LINUXKIT_KERNEL,
  LINUXKIT_MODULES_TAR,
  LINUXKIT_DEV_TAR,
  LINUXKIT_SYSTEM_MAP,
} from './linuxkit-files.ts';
export {
  inspectKernelArtifact,
  type InspectedArtifact,
  type InspectedPlatform,
  type InspectedFile,
} from './inspect-artifact.ts';
export {
  mergePlatformEntry,
  readTagIndex,
  samePlatform,
  holdsEntry,
  entryForPlatform,
  type TagIndexState,
  type MergedIndex,
} from './tag-index.ts';
