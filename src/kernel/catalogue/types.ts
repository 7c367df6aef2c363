import type { KernelArch } from '../image/types.ts';

/** One `[VERSION]` section of a catalogue, with [defaults] already applied. */
export interface CatalogueEntry {
  /** The section name: a release version (6.1.10, 7.3.0-rc3, 6.18.44-nvidia-595.91.07). */
  version: string;
  /** Flavor names (looked up in flavors/) or paths of flavor files (absolute when the catalogue has a directory). */
  flavors: string[];
  arches: KernelArch[];
  /** The build directory pattern, over {version} {flavor} {arch} {ociArch}. */
  build: string;
  /** Extra tag patterns, over the same placeholders. */
  tags: string[];
  /** false when the entry says `aliases = no`: publish with --no-alias. */
  aliases: boolean;
  /** Line of the section header, for messages. */
  line: number;
}

export interface Catalogue {
  /** How the file is named in messages. */
  source: string;
  /** Relative build directories and flavor paths are taken from here; undefined leaves them relative. */
  directory: string | undefined;
  entries: CatalogueEntry[];
}

/** One `kart publish` run: one version, flavor and arch. */
export interface PublishJob {
  version: string;
  /** A flavor name, or the path of a flavor file. */
  flavor: string;
  arch: KernelArch;
  buildDir: string;
  /** Extra tags (--tag), already expanded and valid. */
  tags: string[];
  /** true for `aliases = no` (--no-alias). */
  noAlias: boolean;
  /** Where the entry is, e.g. "kernels/sample.ini:12", for progress and the final summary. */
  origin: string;
}
