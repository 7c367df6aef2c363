/**
 * The kernel `.config` model. Symbol names keep their `CONFIG_` prefix (`CONFIG_XEN`), as they are
 * written in .config files, flavor files and every message a user reads.
 */
export type Tristate = 'y' | 'm' | 'n';

export type ConfigValue =
  | { kind: 'tristate'; value: Tristate }
  /** `value` is unescaped; serialization re-escapes it. */
  | { kind: 'string'; value: string }
  /** decimal or hex (`0x…`) as written; `value` is the parsed number. */
  | { kind: 'number'; value: bigint; text: string }
  /** `# CONFIG_X is not set` */
  | { kind: 'unset' };

export interface ConfigEntry {
  name: string;
  value: ConfigValue;
  /** 1-based line in the source where this (effective) value stands. */
  line: number;
}

export interface ConfigWarning {
  code: 'DUPLICATE_SYMBOL';
  name: string;
  /** the line that wins (the last one) */
  line: number;
  /** the earlier line it overrides */
  previousLine: number;
  message: string;
}

export interface KernelConfig {
  /** where it was read from: a path, `-` for stdin, or a label */
  readonly source: string;
  /** the effective entry for a symbol (last wins), or undefined when the symbol is absent */
  get(name: string): ConfigEntry | undefined;
  /** effective entries, in the order of their first appearance */
  entries(): IterableIterator<ConfigEntry>;
  readonly warnings: readonly ConfigWarning[];
}

/**
 * One physical line of a `.config` as it was read, so a parsed config serializes back byte for byte.
 * `eol` is the terminator that followed it: `\n`, `\r\n`, or `` for a last line without one.
 */
export interface ConfigLine {
  text: string;
  eol: '\n' | '\r\n' | '';
}

/** A KernelConfig that remembers its lines (every parsed or built config does). */
export interface KernelConfigWithLines extends KernelConfig {
  readonly lines: readonly ConfigLine[];
}
