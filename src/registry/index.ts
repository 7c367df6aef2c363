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
