import type { ConfigValue } from './types.ts';

/** Kconfig escapes exactly these two characters inside a quoted string (scripts/kconfig/confdata.c). */
export function escapeConfigString(value: string): string {
  return value.replace(/[\\"]/g, (c) => `\\${c}`);
}

/** A value as a user reads it, and as it stands after `=` in a .config: `y`, `"str"`, `0x10`, `is not set`. */
export function formatConfigValue(value: ConfigValue): string {
  switch (value.kind) {
    case 'tristate':
      return value.value;
    case 'string':
      return `"${escapeConfigString(value.value)}"`;
    case 'number':
      return value.text;
    case 'unset':
      return 'is not set';
  }
}

/** The canonical .config line for a symbol: `CONFIG_X=value` or `# CONFIG_X is not set`. */
export function formatConfigLine(name: string, value: ConfigValue): string {
  return value.kind === 'unset' ? `# ${name} is not set` : `${name}=${formatConfigValue(value)}`;
}
