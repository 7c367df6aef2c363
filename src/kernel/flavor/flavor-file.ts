import { KartError, type KartErrorCode } from '../../errors.ts';
import { parseRule } from './rule.ts';
import type { Requirement, RequirementLevel } from './types.ts';

/**
 * Reads one flavor file's text into its keys and rules, remembering the line of each, so every error
 * and every later check failure can name the file and line. (The `ini` package's parse loses line
 * numbers, so this is a small line-aware reader of the same INI subset.)
 *
 *   description = ...            top-level keys, before any section
 *   extends = xen-guest, ./my.ini
 *   repository = zone-kernel
 *   addons_max_bytes = 52428800
 *   [require]                    CONFIG_X = <rule>   (failures)
 *   [recommend]                  CONFIG_X = <rule>   (warnings)
 *
 * Full-line comments start with `#` or `;`; a `#` or `;` after whitespace, outside quotes, starts an
 * end-of-line comment.
 */

export interface FlavorFileContents {
  description?: string;
  extends: { name: string; line: number }[];
  repository?: string;
  addonsMaxBytes?: number;
  rules: Requirement[];
}

const TOP_LEVEL_KEYS = ['description', 'extends', 'repository', 'addons_max_bytes'] as const;
type TopLevelKey = (typeof TOP_LEVEL_KEYS)[number];
const SYMBOL = /^CONFIG_[A-Za-z0-9_]+$/;
// The distribution spec's repository-name grammar (path components of lowercase alphanumerics and separators).
const REPOSITORY = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:\/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*$/;
const SECTION = /^\[([^\]]*)\]\s*(?:[#;].*)?$/;

const FORMAT_HINT =
  'a flavor file holds description/extends/repository/addons_max_bytes keys, then [require] and [recommend] sections of CONFIG_X = <rule> lines';

function flavorError(
  code: KartErrorCode,
  file: string,
  line: number,
  what: string,
  hint = FORMAT_HINT,
): KartError {
  return new KartError(code, `${file}:${line}: ${what}`, { hint, exitCode: 2, details: { file, line } });
}

/** Drops an end-of-line comment: `#` or `;` preceded by whitespace and outside a quoted string. */
function stripComment(value: string): string {
  let quoted = false;
  for (let i = 0; i < value.length; i++) {
    const char = value[i];
    if (quoted && char === '\\') {
      i++;
    } else if (char === '"') {
      quoted = !quoted;
    } else if (!quoted && (char === '#' || char === ';') && (i === 0 || /\s/.test(value[i - 1] ?? ''))) {
      return value.slice(0, i);
    }
  }
  return value;
}

function unquote(value: string): string {
  return value.length >= 2 && value.startsWith('"') && value.endsWith('"') ? value.slice(1, -1) : value;
}

/** Parses a flavor file. `flavor` and `file` (as the user should read it) are stamped on every rule. */
export function parseFlavorFile(text: string, flavor: string, file: string): FlavorFileContents {
  const contents: FlavorFileContents = { extends: [], rules: [] };
  const seenTopLevel = new Map<TopLevelKey, number>();
  const seenSymbols = new Map<string, number>();
  let section: RequirementLevel | undefined;
  const lines = text.replace(/^\uFEFF/, '').split(/\r?\n/);

  lines.forEach((raw, index) => {
    const line = index + 1;
    const trimmed = raw.trim();
    if (trimmed === '' || trimmed.startsWith('#') || trimmed.startsWith(';')) return;

    const sectionMatch = SECTION.exec(trimmed);
    if (sectionMatch) {
      const name = (sectionMatch[1] ?? '').trim();
      if (name !== 'require' && name !== 'recommend') {
        throw flavorError(
          'FLAVOR_UNKNOWN_SECTION',
          file,
          line,
          `unknown section [${name}]; a flavor file has only [require] and [recommend]`,
        );
      }
      section = name;
      return;
    }

    const equals = trimmed.indexOf('=');
    if (equals <= 0) {
      throw flavorError(
        'FLAVOR_SYNTAX',
        file,
        line,
        `expected "key = value" or a [section], found ${JSON.stringify(trimmed.slice(0, 80))}`,
      );
    }
    const key = trimmed.slice(0, equals).trim();
    const value = stripComment(trimmed.slice(equals + 1)).trim();

    if (section === undefined) {
      if (!(TOP_LEVEL_KEYS as readonly string[]).includes(key)) {
        throw flavorError(
          'FLAVOR_UNKNOWN_KEY',
          file,
          line,
          `unknown key ${JSON.stringify(key)}; before the first section the keys are ${TOP_LEVEL_KEYS.join(', ')}`,
          SYMBOL.test(key) ? `put ${key} under a [require] or [recommend] section` : FORMAT_HINT,
        );
      }
      const topKey = key as TopLevelKey;
      const earlier = seenTopLevel.get(topKey);
      if (earlier !== undefined) {
        throw flavorError('FLAVOR_DUPLICATE_KEY', file, line, `${key} is already given at line ${earlier}`);
      }
      seenTopLevel.set(topKey, line);
      readTopLevel(contents, topKey, value, file, line);
      return;
    }

    if (!SYMBOL.test(key)) {
      throw flavorError(
        'FLAVOR_UNKNOWN_KEY',
        file,
        line,
        `unknown key ${JSON.stringify(key)} in [${section}]; keys there are kernel symbols such as CONFIG_XEN`,
      );
    }
    const earlier = seenSymbols.get(key);
    if (earlier !== undefined) {
      throw flavorError('FLAVOR_DUPLICATE_KEY', file, line, `${key} is already given at line ${earlier}`);
    }
    seenSymbols.set(key, line);
    const parsed = parseRule(value);
    if (!parsed.ok) throw flavorError('FLAVOR_BAD_RULE', file, line, `${key}: ${parsed.problem}`);
    contents.rules.push({
      symbol: key,
      rule: parsed.rule,
      ruleText: value,
      level: section,
      flavor,
      file,
      line,
    });
  });
  return contents;
}

function readTopLevel(
  contents: FlavorFileContents,
  key: TopLevelKey,
  value: string,
  file: string,
  line: number,
): void {
  switch (key) {
    case 'description':
      contents.description = unquote(value);
      return;
    case 'extends':
      for (const name of value.split(',').map((part) => part.trim())) {
        if (name === '') {
          throw flavorError(
            'FLAVOR_BAD_VALUE',
            file,
            line,
            `extends has an empty name; write flavor names or paths separated by commas`,
          );
        }
        contents.extends.push({ name, line });
      }
      return;
    case 'repository':
      if (!REPOSITORY.test(value)) {
        throw flavorError(
          'FLAVOR_BAD_VALUE',
          file,
          line,
          `repository ${JSON.stringify(value)} is not a valid repository name (lowercase letters, digits, and . _ - / separators)`,
        );
      }
      contents.repository = value;
      return;
    case 'addons_max_bytes': {
      const bytes = /^[0-9]+$/.test(value) ? Number(value) : Number.NaN;
      if (!Number.isSafeInteger(bytes)) {
        throw flavorError(
          'FLAVOR_BAD_VALUE',
          file,
          line,
          `addons_max_bytes ${JSON.stringify(value)} is not a whole number of bytes`,
        );
      }
      contents.addonsMaxBytes = bytes;
      return;
    }
  }
}
