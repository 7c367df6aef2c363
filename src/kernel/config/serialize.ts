import type { KernelConfig, KernelConfigWithLines } from './types.ts';
import { formatConfigLine } from './format.ts';

function hasLines(config: KernelConfig): config is KernelConfigWithLines {
  return Array.isArray((config as Partial<KernelConfigWithLines>).lines);
}

/**
 * The config as .config text. A parsed config gives back exactly what was read (comments, line endings,
 * even a duplicated symbol's earlier line, which re-parses to the same effective values); a config
 * without lines is written canonically, one `\n`-terminated line per entry.
 */
export function serializeKernelConfig(config: KernelConfig): string {
  if (hasLines(config)) return config.lines.map((l) => l.text + l.eol).join('');
  let text = '';
  for (const entry of config.entries()) text += `${formatConfigLine(entry.name, entry.value)}\n`;
  return text;
}
