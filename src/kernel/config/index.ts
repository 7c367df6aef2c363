export type * from './types.ts';
export { parseKernelConfig } from './parse.ts';
export { readKernelConfig, MAX_CONFIG_BYTES } from './read.ts';
export type { ReadKernelConfigOptions } from './read.ts';
export { serializeKernelConfig } from './serialize.ts';
export { formatConfigValue, formatConfigLine } from './format.ts';
export { buildKernelConfig } from './model.ts';
