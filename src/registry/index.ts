export type { Authorizer } from './authorizer.ts';
export { anonymous } from './authorizer.ts';
export { RegistryHttpClient, type HttpClientOptions, type RetryEvent } from './http-client.ts';
export { DEFAULT_RETRY_POLICY, parseRetryAfter, retryDelay, type RetryPolicy } from './retry-policy.ts';
export { registryBaseUrl } from './endpoint.ts';
export {
  RepositoryStore,
  type RepositoryOptions,
  type RepositoryAccess,
  type PushObserver,
} from './repository.ts';
// What RepositoryStore's blobs() and manifests() return (oras-go's Repository.Blobs()/Manifests()).
export type { BlobStore } from './blob-store.ts';
export type { ManifestStore } from './manifest-store.ts';
export { DEFAULT_UPLOAD_OPTIONS, type UploadOptions } from './blob-upload.ts';
export { referrersTag, legacySignatureTag } from './referrers.ts';
export { listReferrers, attachReferrer, listReferrer } from './store-referrers.ts';
export {
  openTarget,
  openReference,
  defaultAuthorizer,
  type OpenTargetOptions,
  type OpenedTarget,
} from './open-target.ts';
export { copyReference, type CopyReferenceOptions, type CopyReport } from './copy-reference.ts';
export * from './auth/index.ts';
export * from './credentials/index.ts';
export {
  MirroredRepository,
  type PullSource,
  type SourceSkip,
  type TagResolution,
} from './mirrors/mirrored-repository.ts';
export { loadRegistriesConf, type RegistriesConfLocations } from './mirrors/load-registries-conf.ts';
// Types only: the TOML parser loads when a registries.conf with [[registry]] tables is read.
export type {
  RegistriesConf,
  RegistryEntry,
  MirrorEndpoint,
  PullFromMirror,
} from './mirrors/registries-conf.ts';
export {
  planPullSources,
  findRegistry,
  refMatchingPrefix,
  type PullSourcePlan,
  type MirrorSource,
  type CommandLineMirrors,
} from './mirrors/pull-source-plan.ts';
export { type PullSourceOptions } from './mirrors/open-pull-source.ts';
export { servedBy, sourceReport, type SourceReport } from './mirrors/source-report.ts';
