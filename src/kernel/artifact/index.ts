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
  TITLE_ANNOTATION,
  type ArtifactFile,
  type MeasuredLayer,
  type LayerCompressionOption,
} from './kernel-layers.ts';
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
} from './pack-kernel.ts';
export {
  inspectKernelArtifact,
  type InspectedArtifact,
  type InspectedPlatform,
  type InspectedFile,
} from './inspect-artifact.ts';
export {
  mergePlatformEntry,
  readTagIndex,
  resolveIfTagged,
  samePlatform,
  holdsEntry,
  entryForPlatform,
  type TagIndexState,
  type MergedIndex,
} from './tag-index.ts';
