import { isAbsolute, resolve } from 'node:path';
import { KartError } from '../../errors.ts';
import type { KernelArch } from '../image/types.ts';
import { isReleaseVersion, parseKernelVersion } from '../tags/kernel-version.ts';
import { patternProblem } from './catalogue-pattern.ts';
import type { Catalogue, CatalogueEntry } from './types.ts';

/**
 * The catalogue file format (documented for users at the top of kernels/sample.ini):
 *   [defaults]                      optional, before the first entry: keys every entry inherits
 *   [6.1.10]                        one section per version to publish, in publish order
 *   flavors = zone, host            required: flavor names, or paths of flavor files (relative to the file)
 *   arches  = x86_64, aarch64       required: x86_64 | aarch64 (amd64 | arm64 accepted and normalised)
 *   build   = ../build/{version}/{flavor}-{arch}   required: the build directory (relative to the file)
 *   tags    = stable, {version}-{flavor}           optional: extra tags
 *   aliases = no                    optional: yes (default) | no, the moving aliases 6.1, 6, latest
 * Whole-line comments start with # or ;. Values are trimmed and otherwise verbatim (no inline comments,
 * no quoting). Every mistake is a CATALOGUE_INVALID naming the file and line.
 * Parsed by hand rather than with the `ini` package because errors must carry line numbers, and that
 * package would also silently merge repeated sections and keys, which here are mistakes.
 */
const KEYS = ['flavors', 'arches', 'build', 'tags', 'aliases'] as const;
type Key = (typeof KEYS)[number];
const REQUIRED: readonly Key[] = ['flavors', 'arches', 'build'];

const ARCHES: Readonly<Record<string, KernelArch>> = {
  x86_64: 'x86_64',
  amd64: 'x86_64',
  aarch64: 'aarch64',
  arm64: 'aarch64',
};
/** The shipped flavors' naming rule; anything with a slash or an .ini ending is a flavor file path. */
const FLAVOR_NAME = /^[a-z0-9][a-z0-9._-]*$/;
const SECTION = /^\[([^\]]*)\]$/;

interface Value {
  text: string;
  line: number;
}
interface RawSection {
  name: string;
  line: number;
  values: Map<Key, Value>;
}

export interface ParseCatalogueOptions {
  /** The directory relative build patterns and flavor paths are resolved against (the file's own). */
  directory?: string;
}

/** Parses catalogue text; `source` names it in errors. Throws CATALOGUE_INVALID naming source:line. */
export function parseCatalogue(text: string, source: string, options: ParseCatalogueOptions = {}): Catalogue {
  const fail = (line: number, what: string, hint: string): KartError =>
    new KartError('CATALOGUE_INVALID', `${source}:${line}: ${what}`, {
      exitCode: 2,
      hint,
      details: { file: source, line },
    });

  let defaults: RawSection | undefined;
  const sections: RawSection[] = [];
  let current: RawSection | undefined;

  const lines = text.replace(/^\uFEFF/, '').split(/\r?\n/);
  lines.forEach((raw, index) => {
    const lineNumber = index + 1;
    const line = raw.trim();
    if (line === '' || line.startsWith('#') || line.startsWith(';')) return;

    const section = SECTION.exec(line);
    if (section) {
      const name = (section[1] ?? '').trim();
      current = { name, line: lineNumber, values: new Map() };
      if (name === 'defaults') {
        if (defaults)
          throw fail(
            lineNumber,
            `[defaults] appears again (first on line ${defaults.line})`,
            'keep one [defaults] section',
          );
        if (sections.length > 0) {
          throw fail(
            lineNumber,
            '[defaults] comes after an entry',
            'put [defaults] before the first [VERSION] section',
          );
        }
        defaults = current;
        return;
      }
      const version = parseKernelVersion(name);
      if (version === undefined || !isReleaseVersion(version)) {
        throw fail(
          lineNumber,
          `[${name}] is not a kernel release version`,
          'name each entry by the version it publishes, e.g. [6.1.10], [7.3.0-rc3] or [6.18.44-nvidia-595.91.07]',
        );
      }
      const earlier = sections.find((s) => s.name === name);
      if (earlier)
        throw fail(
          lineNumber,
          `[${name}] appears again (first on line ${earlier.line})`,
          'list each version once; put all its flavors in one entry',
        );
      sections.push(current);
      return;
    }

    const eq = line.indexOf('=');
    if (eq < 0)
      throw fail(
        lineNumber,
        `"${line}" is neither [section] nor key = value`,
        'write key = value, or a [VERSION] section',
      );
    const key = line.slice(0, eq).trim();
    const value = line.slice(eq + 1).trim();
    if (!current)
      throw fail(
        lineNumber,
        `"${key}" comes before any [section]`,
        'start an entry with a [VERSION] line, e.g. [6.1.10]',
      );
    if (!(KEYS as readonly string[]).includes(key)) {
      throw fail(lineNumber, `unknown key "${key}"`, `the keys are ${KEYS.join(', ')}`);
    }
    const earlier = current.values.get(key as Key);
    if (earlier)
      throw fail(
        lineNumber,
        `"${key}" appears again in [${current.name}] (first on line ${earlier.line})`,
        'give each key once per section; lists are comma-separated',
      );
    current.values.set(key as Key, { text: value, line: lineNumber });
  });

  if (sections.length === 0) {
    throw fail(lines.length, 'has no entries', 'add a [VERSION] section with flavors, arches and build');
  }

  const directory = options.directory;
  const entries = sections.map((section): CatalogueEntry => {
    const get = (key: Key): Value | undefined => section.values.get(key) ?? defaults?.values.get(key);
    for (const key of REQUIRED) {
      if (get(key) === undefined) {
        throw fail(
          section.line,
          `[${section.name}] has no ${key}`,
          key === 'build'
            ? 'add build = the build directory pattern, e.g. build = ../build/{version}/{flavor}-{arch}'
            : `add ${key} = …, or set it under [defaults]`,
        );
      }
    }
    const flavorsValue = get('flavors') as Value;
    const archesValue = get('arches') as Value;
    const buildValue = get('build') as Value;
    const tagsValue = get('tags');
    const aliasesValue = get('aliases');

    const flavors = list(flavorsValue, 'flavors', fail).map((flavor) => {
      const isPath = flavor.includes('/') || flavor.includes('\\') || flavor.endsWith('.ini');
      if (isPath) return directory !== undefined && !isAbsolute(flavor) ? resolve(directory, flavor) : flavor;
      if (!FLAVOR_NAME.test(flavor)) {
        throw fail(
          flavorsValue.line,
          `"${flavor}" is not a flavor name`,
          'a flavor is a name from flavors/ (lowercase, digits, . _ -) or the path of a flavor .ini file',
        );
      }
      return flavor;
    });

    const arches = list(archesValue, 'arches', fail).map((arch) => {
      const normalised = Object.hasOwn(ARCHES, arch) ? ARCHES[arch] : undefined;
      if (normalised === undefined) {
        throw fail(
          archesValue.line,
          `unknown arch "${arch}"`,
          'arches are x86_64 and aarch64 (amd64 and arm64 are accepted)',
        );
      }
      return normalised;
    });
    const archCopy = arches.find((arch, i) => arches.indexOf(arch) !== i);
    if (archCopy)
      throw fail(
        archesValue.line,
        `arch ${archCopy} is listed twice`,
        'amd64 is x86_64 and arm64 is aarch64; list each once',
      );

    if (buildValue.text === '') {
      throw fail(
        buildValue.line,
        'build is empty',
        'set build = the build directory pattern, e.g. ../build/{version}/{flavor}-{arch}',
      );
    }
    const buildProblem = patternProblem(buildValue.text);
    if (buildProblem)
      throw fail(
        buildValue.line,
        `build "${buildValue.text}" ${buildProblem}`,
        'placeholders are {version} {flavor} {arch} {ociArch}',
      );

    const tags = tagsValue === undefined || tagsValue.text === '' ? [] : list(tagsValue, 'tags', fail);
    for (const tag of tags) {
      const problem = patternProblem(tag);
      if (problem)
        throw fail(
          (tagsValue as Value).line,
          `tag "${tag}" ${problem}`,
          'placeholders are {version} {flavor} {arch} {ociArch}',
        );
    }

    let aliases = true;
    if (aliasesValue !== undefined) {
      const yes = ['yes', 'true'].includes(aliasesValue.text);
      if (!yes && !['no', 'false'].includes(aliasesValue.text)) {
        throw fail(
          aliasesValue.line,
          `aliases = "${aliasesValue.text}" is not yes or no`,
          'aliases = no publishes without the moving 6.1, 6 and latest tags',
        );
      }
      aliases = yes;
    }

    return {
      version: section.name,
      flavors,
      arches,
      build: buildValue.text,
      tags,
      aliases,
      line: section.line,
    };
  });

  return { source, directory, entries };
}

/** A comma-separated list: items trimmed, none empty, none repeated. */
function list(
  value: Value,
  key: Key,
  fail: (line: number, what: string, hint: string) => KartError,
): string[] {
  const items = value.text.split(',').map((item) => item.trim());
  if (items.some((item) => item === '')) {
    throw fail(
      value.line,
      `${key} has an empty item ("${value.text}")`,
      `${key} is a comma-separated list, e.g. ${key === 'arches' ? 'x86_64, aarch64' : key === 'flavors' ? 'zone, host' : 'stable, lts'}`,
    );
  }
  const repeated = items.find((item, i) => items.indexOf(item) !== i);
  if (repeated !== undefined) throw fail(value.line, `${key} lists "${repeated}" twice`, 'list each once');
  return items;
}
