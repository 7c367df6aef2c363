/**
 * Flavors: what a kernel `.config` must (and should) hold to run in a given place (a Xen zone, a dom0,
 * a KVM guest...). A flavor is one INI file in flavors/ (or any path a user passes); these are the
 * shapes the loader produces and the checker reads.
 */

/** One parsed requirement rule. Numbers are bigints so hex and 64-bit values compare exactly. */
export type Rule =
  /** built in */
  | { kind: 'y' }
  /** a module or built in */
  | { kind: 'm' }
  /** not set, `=n`, or absent */
  | { kind: 'n' }
  /** a string, exactly */
  | { kind: 'string'; value: string }
  /** a number, exactly (decimal or hex) */
  | { kind: 'number'; value: bigint }
  | { kind: 'at-least'; value: bigint }
  | { kind: 'at-most'; value: bigint }
  /** any one of the alternatives (`a|b`) */
  | { kind: 'any'; alternatives: Exclude<Rule, { kind: 'any' }>[] };

export type RequirementLevel = 'require' | 'recommend';

/** A rule for one symbol, and where it was written (so every failure can point at it). */
export interface Requirement {
  /** with its prefix, e.g. `CONFIG_XEN` */
  symbol: string;
  rule: Rule;
  /** the rule as written in the flavor file, e.g. `y` or `>=512` */
  ruleText: string;
  level: RequirementLevel;
  /** the flavor whose file holds the rule (for inherited rules, the parent) */
  flavor: string;
  /** the flavor file, as the user should read it (relative to the working directory when inside it) */
  file: string;
  /** 1-based line of the rule in that file */
  line: number;
}

export interface Flavor {
  name: string;
  /** the flavor file, as the user should read it */
  file: string;
  description: string;
  /** default repository name for this flavor (e.g. zone-kernel); not inherited through `extends` */
  repository?: string;
  /** the largest addons.squashfs this flavor allows, in bytes; not inherited through `extends` */
  addonsMaxBytes?: number;
  /** the flavors it extends, as written */
  extends: string[];
  /** `[require]` rules, its own and inherited (an own rule replaces an inherited one for the same symbol) */
  requirements: Requirement[];
  /** `[recommend]` rules (warnings, not failures), merged the same way */
  recommendations: Requirement[];
}

/** What `kart flavors` lists: a flavor with its rules counted rather than spelled out. */
export interface FlavorSummary extends Pick<
  Flavor,
  'name' | 'file' | 'description' | 'repository' | 'addonsMaxBytes' | 'extends'
> {
  requirements: number;
  recommendations: number;
}

/** The outcome of one rule against one config. */
export interface RequirementResult {
  symbol: string;
  rule: string;
  level: RequirementLevel;
  ok: boolean;
  /** the value found: `y`, `m`, `n`, `"text"`, a number as written, `not set`, or `absent` */
  actual: string;
  /** the .config line where the actual value stands (absent symbols have none) */
  configLine?: number;
  /** the flavor file and line that asked for it */
  flavorFile: string;
  flavorLine: number;
  /** one sentence a person can act on */
  message: string;
}

export interface FlavorCheckResult {
  flavor: string;
  file: string;
  ok: boolean;
  /** every `[require]` rule, in file order (inherited first) */
  requirements: RequirementResult[];
  /** the `[require]` rules that do not hold */
  failures: RequirementResult[];
  /** the `[recommend]` rules that do not hold */
  warnings: RequirementResult[];
}

/**
 * What the config was read from when it is not a config file a person can open at a line: a kernel
 * image's embedded config, or a published kernel (a reference, its digest and platform).
 */
export type CheckSubject =
  | { kind: 'image'; path: string; format: string; release: string; banner: string; configDigest: string }
  | {
      kind: 'reference';
      reference: string;
      /** what the reference resolved to (an index or a manifest) */
      digest: string;
      platform: string;
      /** the platform manifest */
      manifest: string;
      /** the file the config came from: kernel/config.gz, kernel-dev.tar or the kernel's IKCONFIG */
      configFrom: string;
      /** the layer that held it */
      layer: string;
      /** sha256 of the .config read */
      configDigest: string;
    };

export interface CheckReport {
  ok: boolean;
  /** where the config came from (a path, or `-` for stdin) */
  config: string;
  /** set when the config came from a kernel image or a published reference */
  subject?: CheckSubject;
  flavors: FlavorCheckResult[];
  /** what the config reader warned about (duplicated symbols) */
  configWarnings: string[];
  summary: { flavors: number; requirements: number; failures: number; warnings: number };
}
