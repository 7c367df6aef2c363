export * from './media-types.ts';
export * from './digest.ts';
export * from './schema.ts';
export type * from './store.ts';
export * from './reference.ts';
