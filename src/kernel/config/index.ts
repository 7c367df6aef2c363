export type * from './types.ts';
export { parseKernelConfig } from './parse.ts';
export { readKernelConfig, readKernelConfigStream, MAX_CONFIG_BYTES } from './read.ts';
export type { ReadKernelConfigOptions } from './read.ts';
export { serializeKernelConfig } from './serialize.ts';
export { formatConfigValue, formatConfigLine } from './format.ts';
export { buildKernelConfig } from './model.ts';
export { diffKernelConfigs } from './diff.ts';
export type { ConfigDiff, ConfigChange } from './diff.ts';
export { splitKernelConfigs } from './split.ts';
export type { ConfigSplit } from './split.ts';
export { mergeKernelConfigs } from './merge.ts';
export type { ConfigMerge, ConfigOverride, ConfigRedundancy, ConfigOrigin } from './merge.ts';
export { parseAllowList, readAllowList } from './allow-list.ts';
export type { AllowList } from './allow-list.ts';
export { verifyFragments } from './verify-fragments.ts';
export type { FragmentVerification, LostValue } from './verify-fragments.ts';
export { sameConfigValue } from './same-value.ts';
export {
  renderDiffText,
  renderSplitText,
  renderMergeText,
  renderVerifyText,
  renderWarningsText,
} from './render-text.ts';
export { diffToJson, splitToJson, mergeToJson, verifyToJson } from './render-json.ts';
export { writeSplitFiles } from './split-files.ts';
