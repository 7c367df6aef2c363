export {};
export * from './auth/index.ts';
export * from './credentials/index.ts';
