import type { ConfigEntry, KernelConfig } from './types.ts';
import { formatConfigValue } from './format.ts';

export interface ConfigChange {
  name: string;
  before: ConfigEntry;
  after: ConfigEntry;
}

export interface ConfigDiff {
  /** in `after` only */
  added: ConfigEntry[];
  /** in `before` only */
  removed: ConfigEntry[];
  /** in both, written differently */
  changed: ConfigChange[];
}

/**
 * Symbols added, removed and changed from `before` to `after`, each list sorted by name. Values compare
 * as written (`# X is not set` and `X=n` differ, as do `0x10` and `16`): a diff shows what the files say.
 */
export function diffKernelConfigs(before: KernelConfig, after: KernelConfig): ConfigDiff {
  const diff: ConfigDiff = { added: [], removed: [], changed: [] };
  for (const entry of before.entries()) {
    const other = after.get(entry.name);
    if (other === undefined) diff.removed.push(entry);
    else if (formatConfigValue(entry.value) !== formatConfigValue(other.value)) {
      diff.changed.push({ name: entry.name, before: entry, after: other });
    }
  }
  for (const entry of after.entries()) {
    if (before.get(entry.name) === undefined) diff.added.push(entry);
  }
  const byName = (a: { name: string }, b: { name: string }) => compareNames(a.name, b.name);
  diff.added.sort(byName);
  diff.removed.sort(byName);
  diff.changed.sort(byName);
  return diff;
}

/** Code-unit order, as Python's sorted() and `LC_ALL=C sort` use. */
export function compareNames(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
