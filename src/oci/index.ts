export * from './media-types.ts';
export * from './digest.ts';
export * from './schema.ts';
export type * from './store.ts';
export { canIngest, canUpdateTag } from './store.ts';
export * from './reference.ts';
export * from './tar-writer.ts';
export * from './layout.ts';
export { withLayoutLock, LOCK_FILE_NAME, type LayoutLockOptions } from './layout-lock.ts';
export * from './tar-reader.ts';
export * from './manifest-io.ts';
export * from './copy.ts';
export * from './successors.ts';
export * from './transient-retry.ts';
export * from './memory-store.ts';
export * from './platform.ts';
export * from './transfer-observer.ts';
// So that `kart/oci` alone is enough to branch on failures.
export { KartError, isKartError, type KartErrorCode } from '../errors.ts';
