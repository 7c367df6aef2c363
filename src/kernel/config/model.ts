import type { ConfigEntry, ConfigLine, ConfigWarning, KernelConfigWithLines } from './types.ts';
import { formatConfigLine } from './format.ts';

/**
 * The one KernelConfig implementation: effective entries keyed by symbol (first-appearance order,
 * which a Map keeps), the warnings found while reading, and the physical lines for serialization.
 */
class LinedKernelConfig implements KernelConfigWithLines {
  readonly source: string;
  readonly warnings: readonly ConfigWarning[];
  readonly lines: readonly ConfigLine[];
  readonly #entries: ReadonlyMap<string, ConfigEntry>;

  constructor(
    source: string,
    entries: ReadonlyMap<string, ConfigEntry>,
    lines: readonly ConfigLine[],
    warnings: readonly ConfigWarning[],
  ) {
    this.source = source;
    this.#entries = entries;
    this.lines = lines;
    this.warnings = warnings;
  }

  get(name: string): ConfigEntry | undefined {
    return this.#entries.get(name);
  }

  entries(): IterableIterator<ConfigEntry> {
    return this.#entries.values();
  }
}

/** Wraps what the parser found; the parser owns the line numbers. */
export function kernelConfigFromParts(
  source: string,
  entries: ReadonlyMap<string, ConfigEntry>,
  lines: readonly ConfigLine[],
  warnings: readonly ConfigWarning[],
): KernelConfigWithLines {
  return new LinedKernelConfig(source, entries, lines, warnings);
}

/**
 * Builds a config from entries (merge and split results): one canonical line per entry, `\n` endings,
 * in the order given, with each entry's `line` renumbered to where it now stands.
 */
export function buildKernelConfig(
  source: string,
  entries: Iterable<Pick<ConfigEntry, 'name' | 'value'>>,
): KernelConfigWithLines {
  const map = new Map<string, ConfigEntry>();
  const lines: ConfigLine[] = [];
  for (const { name, value } of entries) {
    if (map.has(name)) continue;
    lines.push({ text: formatConfigLine(name, value), eol: '\n' });
    map.set(name, { name, value, line: lines.length });
  }
  return new LinedKernelConfig(source, map, lines, []);
}
