export * from './config/index.ts';
export * from './flavor/index.ts';
export * from './image/index.ts';
export * from './addons/index.ts';
export * from './artifact/index.ts';
export * from './tags/index.ts';
export * from './install/index.ts';
export * from './catalogue/index.ts';
