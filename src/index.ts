/**
 * `import … from 'kart'`: the task-level API, one call per job the CLI does, for the programs that
 * drive kart without the CLI (the CLI is a thin skin over these same calls):
 * - a zone launcher pulls and installs a kernel before boot (pullKernel) and tends its cache;
 * - a publisher packs, checks and publishes a build (packKernel, publishKernel, publishCatalogue) and
 *   moves images (copyReference, login);
 * - a CI tool checks a config against flavors (readKernelConfig, loadFlavor, checkConfig, renderers).
 * Long operations take an AbortSignal (`signal`) and report bytes as they move (`onTransfer`).
 * The building blocks are in the subpaths: `kart/oci` (stores, layouts, copy, references: no kernel
 * knowledge), `kart/registry` (the registry client, auth, credentials), `kart/kernel` (everything
 * kernel-shaped). Anything not exported from one of the four is internal and may change.
 */
export { KartError, isKartError, type ExitCode, type KartErrorOptions } from './errors.ts';
export type { KartErrorCode } from './error-codes.ts';
export type { TransferEvent, TransferObserver, TransferOptions } from './oci/transfer-observer.ts';
export type { Descriptor, Platform } from './oci/schema.ts';

// Zone launcher
export {
  pullKernel,
  type PullKernelOptions,
  type PullKernelResult,
  type PulledBlob,
  type PulledFile,
} from './kernel/pull/index.ts';
export {
  defaultCacheDir,
  listCache,
  verifyCache,
  pruneCache,
  type CacheListing,
  type CacheVerifyReport,
  type CachePruneReport,
} from './kernel/cache/index.ts';
export type { InstalledFile, InstalledFileName } from './kernel/install/index.ts';

// Publisher
export {
  packKernel,
  inspectKernelArtifact,
  parseKernelMetadata,
  type PackKernelOptions,
  type PackKernelResult,
  type PackedFile,
  type PackTarget,
  type InspectedArtifact,
  type KernelMetadata,
} from './kernel/artifact/index.ts';
export {
  publishKernel,
  publishCatalogue,
  type PublishKernelOptions,
  type PublishResult,
  type PublishBlob,
  type PublishTag,
  type PublishCatalogueOptions,
  type CatalogueSummary,
} from './kernel/publish/index.ts';
export {
  copyReference,
  openReference,
  login,
  logout,
  type CopyReferenceOptions,
  type CopyReport,
  type OpenTargetOptions,
  type OpenedTarget,
  type LoginOptions,
  type LoginResult,
  type LogoutOptions,
} from './registry/index.ts';

// CI tool
export {
  readKernelConfig,
  diffKernelConfigs,
  mergeKernelConfigs,
  splitKernelConfigs,
  type KernelConfig,
  type ReadKernelConfigOptions,
} from './kernel/config/index.ts';
export {
  loadFlavor,
  listFlavors,
  checkConfig,
  renderCheckText,
  renderCheckJson,
  renderCheckGithub,
  renderCheckJunit,
  type Flavor,
  type FlavorSummary,
  type CheckReport,
  type FlavorCheckResult,
  type RequirementResult,
} from './kernel/flavor/index.ts';

// Signatures (a publisher signs, a zone launcher verifies before it installs)
export {
  signArtifact,
  verifyArtifact,
  generateKeyPair,
  readSigningKey,
  readVerificationKey,
  readPolicyFile,
  type SignArtifactOptions,
  type SignArtifactResult,
  type VerifyArtifactOptions,
  type VerifyArtifactResult,
  type VerifiedSignature,
  type TrustPolicy,
  type KeylessPolicy,
  type SigningKey,
  type GeneratedKeyPair,
  type RepositoryPolicies,
} from './signature/index.ts';

// Kata guests (a publisher builds the rootfs and its dm-verity tree; a launcher reads the verity line)
export {
  formatVerity,
  verifyVerity,
  buildRootfsImage,
  parseKernelVerityParams,
  formatKernelVerityParams,
  kernelCommandLine,
  type VerityFormatOptions,
  type VerityVerifyOptions,
  type RootfsBuildOptions,
  type BuiltRootfs,
  type KernelVerityParams,
  type KernelCommandLine,
  type InstalledGuest,
} from './guest/index.ts';
