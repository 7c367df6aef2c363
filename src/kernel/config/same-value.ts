import type { ConfigValue } from './types.ts';

/**
 * Whether two values mean the same to Kconfig: `=n`, `# … is not set` and an absent symbol are all "n";
 * numbers compare by value (`0x10` = `16`); strings and y/m compare exactly. merge and verify-fragments
 * share this, so a merge reports as overridden exactly what verify-fragments would call lost.
 */
export function sameConfigValue(a: ConfigValue | undefined, b: ConfigValue | undefined): boolean {
  if (isNo(a) || isNo(b)) return isNo(a) && isNo(b);
  if (a?.kind === 'tristate' && b?.kind === 'tristate') return a.value === b.value;
  if (a?.kind === 'string' && b?.kind === 'string') return a.value === b.value;
  if (a?.kind === 'number' && b?.kind === 'number') return a.value === b.value;
  return false;
}

function isNo(value: ConfigValue | undefined): boolean {
  return value === undefined || value.kind === 'unset' || (value.kind === 'tristate' && value.value === 'n');
}
