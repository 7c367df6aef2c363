export * from './media-types.ts';
export * from './digest.ts';
export * from './schema.ts';
export type * from './store.ts';
export * from './reference.ts';
export * from './tar-writer.ts';
export * from './layout.ts';
export { withLayoutLock, LOCK_FILE_NAME, type LayoutLockOptions } from './layout-lock.ts';
