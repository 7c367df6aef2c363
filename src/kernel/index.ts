export * from './config/index.ts';
export * from './flavor/index.ts';
export * from './image/index.ts';
export * from './artifact/index.ts';
export * from './tags/index.ts';
