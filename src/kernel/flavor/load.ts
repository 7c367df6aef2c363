import { open, readdir } from 'node:fs/promises';
import { basename, dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { KartError } from '../../errors.ts';
import { displayPath } from './display-path.ts';
import { parseFlavorFile } from './flavor-file.ts';
import type { Flavor, FlavorSummary, Requirement } from './types.ts';

/**
 * Finds flavors by name (the shipped flavors/ directory) or by path (a user's own file), follows
 * `extends` (refusing cycles), and merges inherited rules under the flavor's own.
 */

/** The flavors/ directory shipped with kart, found relative to this module (works from a package install). */
export const SHIPPED_FLAVORS_DIR = fileURLToPath(new URL('../../../flavors/', import.meta.url));

const FLAVOR_NAME = /^[a-z0-9][a-z0-9._-]*$/;

/** Flavor files are a few KB; reading stops past this, so `--flavor /dev/zero` fails instead of filling memory. */
export const MAX_FLAVOR_BYTES = 1024 * 1024;

async function readBounded(path: string): Promise<string | undefined> {
  const handle = await open(path, 'r');
  try {
    const buffer = Buffer.alloc(MAX_FLAVOR_BYTES + 1);
    let length = 0;
    while (length < buffer.length) {
      const { bytesRead } = await handle.read(buffer, length, buffer.length - length);
      if (bytesRead === 0) break;
      length += bytesRead;
    }
    return length > MAX_FLAVOR_BYTES ? undefined : buffer.subarray(0, length).toString('utf8');
  } finally {
    await handle.close();
  }
}

/** A name is looked up in flavors/; anything with a slash or an .ini ending is a path. */
function isPath(nameOrPath: string): boolean {
  return nameOrPath.includes('/') || nameOrPath.includes('\\') || nameOrPath.endsWith('.ini');
}

async function shippedFlavorNames(): Promise<string[]> {
  const files = await readdir(SHIPPED_FLAVORS_DIR).catch(() => []);
  return files
    .filter((file) => file.endsWith('.ini'))
    .map((file) => file.slice(0, -'.ini'.length))
    .sort();
}

async function unknownFlavor(name: string, where: string): Promise<KartError> {
  const known = await shippedFlavorNames();
  return new KartError('FLAVOR_NOT_FOUND', `${where}unknown flavor ${JSON.stringify(name)}`, {
    hint: `the shipped flavors are ${known.join(', ')}; or pass the path of your own flavor file (e.g. ./my-flavor.ini)`,
    exitCode: 2,
    details: { flavor: name, known },
  });
}

interface Located {
  name: string;
  absolute: string;
}

/** `from` is the file whose `extends` names it (paths there are relative to that file), if any. */
async function locate(
  nameOrPath: string,
  from: { file: string; line: number } | undefined,
): Promise<Located> {
  const where = from ? `${displayPath(from.file)}:${from.line}: ` : '';
  if (isPath(nameOrPath)) {
    const absolute = resolve(from ? dirname(from.file) : process.cwd(), nameOrPath);
    return { name: basename(absolute).replace(/\.ini$/, ''), absolute };
  }
  if (!FLAVOR_NAME.test(nameOrPath)) throw await unknownFlavor(nameOrPath, where);
  return { name: nameOrPath, absolute: resolve(SHIPPED_FLAVORS_DIR, `${nameOrPath}.ini`) };
}

async function readFlavorText(
  located: Located,
  requested: string,
  from: { file: string; line: number } | undefined,
): Promise<string> {
  let text: string | undefined;
  try {
    text = await readBounded(located.absolute);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const where = from ? `${displayPath(from.file)}:${from.line}: ` : '';
    if (code === 'ENOENT' && !isPath(requested)) throw await unknownFlavor(requested, where);
    if (code === 'ENOENT') {
      throw new KartError('FLAVOR_NOT_FOUND', `${where}flavor file not found: ${located.absolute}`, {
        hint: 'check the path; a relative path in extends is read from the directory of the file that names it',
        exitCode: 2,
        cause: error,
      });
    }
    throw new KartError(
      'FLAVOR_UNREADABLE',
      `${where}cannot read flavor file ${located.absolute}: ${(error as Error).message}`,
      { hint: 'pass a readable flavor file', exitCode: 2, cause: error },
    );
  }
  if (text === undefined) {
    const where = from ? `${displayPath(from.file)}:${from.line}: ` : '';
    throw new KartError(
      'FLAVOR_TOO_LARGE',
      `${where}flavor file ${located.absolute} is larger than ${MAX_FLAVOR_BYTES} bytes; it is not a flavor file`,
      { hint: 'pass a flavor INI file (a few KB of keys and CONFIG_X = <rule> lines)', exitCode: 2 },
    );
  }
  return text;
}

async function loadResolved(
  located: Located,
  requested: string,
  from: { file: string; line: number } | undefined,
  chain: Located[],
): Promise<Flavor> {
  const text = await readFlavorText(located, requested, from);
  const file = displayPath(located.absolute);
  const contents = parseFlavorFile(text, located.name, file);

  // Inherited rules first, in extends order; a later flavor's rule (and the flavor's own) replaces an earlier one.
  const merged = new Map<string, Requirement>();
  for (const parent of contents.extends) {
    const parentFrom = { file: located.absolute, line: parent.line };
    const parentLocated = await locate(parent.name, parentFrom);
    const cycleStart = [...chain, located].findIndex((l) => l.absolute === parentLocated.absolute);
    if (cycleStart !== -1) {
      const names = [...chain, located].slice(cycleStart).map((l) => l.name);
      throw new KartError(
        'FLAVOR_EXTENDS_CYCLE',
        `${file}:${parent.line}: extends ${JSON.stringify(parent.name)} makes a cycle: ${[...names, parentLocated.name].join(' → ')}`,
        {
          hint: 'remove one of the extends in that cycle',
          exitCode: 2,
          details: { file, line: parent.line },
        },
      );
    }
    const parentFlavor = await loadResolved(parentLocated, parent.name, parentFrom, [...chain, located]);
    for (const rule of [...parentFlavor.requirements, ...parentFlavor.recommendations]) {
      merged.delete(rule.symbol);
      merged.set(rule.symbol, rule);
    }
  }
  // Deleting first moves a replaced rule to where it now comes from, so reports follow file order.
  for (const rule of contents.rules) {
    merged.delete(rule.symbol);
    merged.set(rule.symbol, rule);
  }

  const rules = [...merged.values()];
  return {
    name: located.name,
    file,
    description: contents.description ?? '',
    ...(contents.repository === undefined ? {} : { repository: contents.repository }),
    ...(contents.addonsMaxBytes === undefined ? {} : { addonsMaxBytes: contents.addonsMaxBytes }),
    extends: contents.extends.map((e) => e.name),
    requirements: rules.filter((rule) => rule.level === 'require'),
    recommendations: rules.filter((rule) => rule.level === 'recommend'),
  };
}

/**
 * Loads a flavor: a shipped one by name (`zone`), or a file by path (`./my.ini`, which may extend
 * shipped flavors by name and other files by path relative to itself).
 */
export async function loadFlavor(nameOrPath: string): Promise<Flavor> {
  const located = await locate(nameOrPath, undefined);
  return loadResolved(located, nameOrPath, undefined, []);
}

/** The shipped flavors, by name, each loaded (so a broken shipped file is reported, not hidden). */
export async function listFlavors(): Promise<FlavorSummary[]> {
  const summaries: FlavorSummary[] = [];
  for (const name of await shippedFlavorNames()) {
    const flavor = await loadFlavor(name);
    summaries.push({
      name: flavor.name,
      file: flavor.file,
      description: flavor.description,
      ...(flavor.repository === undefined ? {} : { repository: flavor.repository }),
      ...(flavor.addonsMaxBytes === undefined ? {} : { addonsMaxBytes: flavor.addonsMaxBytes }),
      extends: flavor.extends,
      requirements: flavor.requirements.length,
      recommendations: flavor.recommendations.length,
    });
  }
  return summaries;
}
