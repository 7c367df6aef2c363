import type { ConfigValue, ConfigWarning, KernelConfig, KernelConfigWithLines } from './types.ts';
import { buildKernelConfig } from './model.ts';
import { sameConfigValue } from './same-value.ts';

/** Where a value was set: a file (or label) and its line. */
export interface ConfigOrigin {
  source: string;
  line: number;
}

export interface ConfigOverride {
  name: string;
  from: ConfigValue;
  to: ConfigValue;
  /** every setting of `from` this replaces: the one that set it, then any that restated it */
  overridden: ConfigOrigin[];
  by: ConfigOrigin;
}

export interface ConfigRedundancy {
  name: string;
  value: ConfigValue;
  /** the setting that already held this value */
  already: ConfigOrigin;
  by: ConfigOrigin;
}

export interface ConfigMerge {
  config: KernelConfigWithLines;
  overrides: ConfigOverride[];
  redundant: ConfigRedundancy[];
  /** duplicate-symbol warnings of the inputs */
  warnings: ConfigWarning[];
}

/**
 * scripts/kconfig/merge_config.sh without the `make` step: fragments apply in order over the base, the
 * later value wins, and each change of an earlier value is reported (a restatement of the same value is
 * "redundant"). As in merge_config.sh, a symbol a fragment sets moves to the end, after that fragment's
 * earlier symbols, so the result reads base-then-fragments.
 */
export function mergeKernelConfigs(
  base: KernelConfig,
  fragments: readonly KernelConfig[],
  source = 'merged',
): ConfigMerge {
  const held = new Map<string, { value: ConfigValue; origins: ConfigOrigin[] }>();
  const overrides: ConfigOverride[] = [];
  const redundant: ConfigRedundancy[] = [];
  for (const entry of base.entries()) {
    held.set(entry.name, { value: entry.value, origins: [{ source: base.source, line: entry.line }] });
  }
  for (const fragment of fragments) {
    for (const entry of fragment.entries()) {
      const by = { source: fragment.source, line: entry.line };
      const current = held.get(entry.name);
      if (current !== undefined && sameConfigValue(current.value, entry.value)) {
        redundant.push({ name: entry.name, value: entry.value, already: current.origins[0]!, by });
        held.delete(entry.name);
        held.set(entry.name, { value: entry.value, origins: [...current.origins, by] });
        continue;
      }
      if (current !== undefined) {
        overrides.push({
          name: entry.name,
          from: current.value,
          to: entry.value,
          overridden: current.origins,
          by,
        });
      }
      held.delete(entry.name);
      held.set(entry.name, { value: entry.value, origins: [by] });
    }
  }
  const entries = [...held].map(([name, { value }]) => ({ name, value }));
  return {
    config: buildKernelConfig(source, entries),
    overrides,
    redundant,
    warnings: [base, ...fragments].flatMap((c) => c.warnings),
  };
}
