import type { ConfigEntry, KernelConfig, KernelConfigWithLines } from './types.ts';
import { buildKernelConfig } from './model.ts';
import { formatConfigValue } from './format.ts';
import { compareNames } from './diff.ts';
import { KartError } from '../../errors.ts';

export interface ConfigSplit {
  /** the symbol=value pairs every input has */
  common: KernelConfigWithLines;
  /** per input, in input order: its pairs that are not common */
  parts: Array<{ source: string; config: KernelConfigWithLines }>;
}

/**
 * LinuxKit's scripts/kconfig-split.py: each input as a set of (symbol, value-as-written) pairs; `common`
 * is their intersection and each part is its input minus common, sorted by symbol, `# CONFIG_X is not set`
 * for unset. Every input is exactly its part plus common.
 */
export function splitKernelConfigs(configs: readonly KernelConfig[]): ConfigSplit {
  if (configs.length === 0) {
    throw new KartError('CONFIG_SPLIT_NO_INPUT', 'config split needs at least one config', {
      hint: 'pass two or more .config files',
      exitCode: 2,
    });
  }
  const key = (e: ConfigEntry) => `${e.name}=${formatConfigValue(e.value)}`;
  const sets = configs.map((c) => new Set([...c.entries()].map(key)));
  const isCommon = (e: ConfigEntry) => sets.every((s) => s.has(key(e)));
  const sorted = (entries: Iterable<ConfigEntry>) =>
    [...entries].sort((a, b) => compareNames(a.name, b.name));
  return {
    common: buildKernelConfig('common', sorted([...configs[0]!.entries()].filter(isCommon))),
    parts: configs.map((c) => ({
      source: c.source,
      config: buildKernelConfig(c.source, sorted([...c.entries()].filter((e) => !isCommon(e)))),
    })),
  };
}
