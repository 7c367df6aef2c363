import type { ConfigEntry, ConfigValue, KernelConfig } from './types.ts';
import type { AllowList } from './allow-list.ts';
import { sameConfigValue } from './same-value.ts';

export interface LostValue {
  name: string;
  requested: { source: string; line: number; value: ConfigValue };
  /** the final config's entry, or undefined when the symbol is absent there */
  actual: ConfigEntry | undefined;
}

export interface FragmentVerification {
  /** how many fragment values were checked */
  checked: number;
  /** requested values that did not survive and are not allowed: the check fails when any are here */
  lost: LostValue[];
  /** lost values the allow-list excuses */
  allowed: LostValue[];
  /** allow-list names that excused nothing (candidates for removal) */
  unusedAllowed: Array<{ name: string; line: number }>;
}

/**
 * Every value the fragments requested that did not make it into the final config, matched by exact
 * symbol name. "Survived" means the same to Kconfig (see sameConfigValue): a requested `n` or
 * `is not set` survives as `n`, `is not set` or an absent symbol.
 */
export function verifyFragments(
  final: KernelConfig,
  fragments: readonly KernelConfig[],
  allowList?: AllowList,
): FragmentVerification {
  const result: FragmentVerification = { checked: 0, lost: [], allowed: [], unusedAllowed: [] };
  const used = new Set<string>();
  for (const fragment of fragments) {
    for (const entry of fragment.entries()) {
      result.checked++;
      const actual = final.get(entry.name);
      if (sameConfigValue(entry.value, actual?.value)) continue;
      const lost = {
        name: entry.name,
        requested: { source: fragment.source, line: entry.line, value: entry.value },
        actual,
      };
      if (allowList?.names.has(entry.name)) {
        used.add(entry.name);
        result.allowed.push(lost);
      } else {
        result.lost.push(lost);
      }
    }
  }
  for (const [name, line] of allowList?.names ?? []) {
    if (!used.has(name)) result.unusedAllowed.push({ name, line });
  }
  return result;
}
