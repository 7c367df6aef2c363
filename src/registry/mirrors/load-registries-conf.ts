import { readdir, readFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { KartError } from '../../errors.ts';
import type { RegistriesConf, RegistryEntry } from './registries-conf.ts';

/**
 * Finds and reads registries.conf the way containers/image does, so kart sees what podman, CRI-O and
 * skopeo see on the same host:
 *   - the main file: `--registries-conf FILE` (or $CONTAINERS_REGISTRIES_CONF), which must exist; else
 *     `$HOME/.config/containers/registries.conf` when present, which then replaces the system file and
 *     its drop-in directory; else `/etc/containers/registries.conf` (missing is fine: no mirrors);
 *   - then the `*.conf` drop-ins of `registries.conf.d/` (system, then the user's), in name order, each
 *     [[registry]] replacing one of the same prefix.
 * The TOML parser is imported only when there is a file to read: most hosts have none.
 */
export interface RegistriesConfLocations {
  /** an explicit main file (--registries-conf): must exist */
  file?: string;
  /** default /etc/containers/registries.conf */
  systemFile?: string;
  /** default /etc/containers/registries.conf.d */
  systemDir?: string;
  /** default os.homedir() */
  home?: string;
  /** default process.env */
  env?: NodeJS.ProcessEnv;
}

export async function loadRegistriesConf(where: RegistriesConfLocations = {}): Promise<RegistriesConf> {
  const env = where.env ?? process.env;
  const home = where.home ?? homedir();
  const explicit = where.file ?? nonEmpty(env.CONTAINERS_REGISTRIES_CONF);
  const userFile = join(home, '.config/containers/registries.conf');
  const userDir = join(home, '.config/containers/registries.conf.d');
  const systemDir = where.systemDir ?? '/etc/containers/registries.conf.d';

  let main: { path: string; text: string } | undefined;
  let dirs: string[];
  if (explicit !== undefined) {
    const text = await readFile(explicit, 'utf8').catch((error: NodeJS.ErrnoException) => {
      throw new KartError(
        'REGISTRIES_CONF_UNREADABLE',
        `cannot read registries.conf ${explicit}: ${error.code ?? error.message}`,
        {
          exitCode: 2,
          hint: 'pass an existing file to --registries-conf (or unset CONTAINERS_REGISTRIES_CONF)',
          cause: error,
        },
      );
    });
    main = { path: explicit, text };
    dirs = [systemDir, userDir];
  } else {
    const user = await readIfPresent(userFile);
    if (user !== undefined) {
      main = { path: userFile, text: user };
      dirs = [userDir];
    } else {
      const systemFile = where.systemFile ?? '/etc/containers/registries.conf';
      const system = await readIfPresent(systemFile);
      main = system === undefined ? undefined : { path: systemFile, text: system };
      dirs = [systemDir, userDir];
    }
  }

  const files: { path: string; text: string; dropIn: boolean }[] =
    main === undefined ? [] : [{ ...main, dropIn: false }];
  for (const dir of dirs) {
    for (const name of await dropIns(dir)) {
      const path = join(dir, name);
      const text = await readIfPresent(path);
      if (text !== undefined) files.push({ path, text, dropIn: true });
    }
  }
  // Most files name no [[registry]] (search lists, short-name aliases): those need no TOML parse.
  const relevant = files.filter((file) => /^\s*\[\[\s*registry\s*\]\]|^\s*\[\s*registries/m.test(file.text));
  const byPrefix = new Map<string, RegistryEntry>();
  if (relevant.length > 0) {
    const { parseRegistriesConf } = await import('./registries-conf.ts');
    for (const file of relevant) {
      const entries = parseRegistriesConf(file.text, file.path, { dropIn: file.dropIn });
      for (const entry of entries) byPrefix.set(entry.prefix, entry);
    }
  }
  return { registries: [...byPrefix.values()], files: files.map((file) => file.path) };
}

async function readIfPresent(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return undefined;
    throw new KartError('REGISTRIES_CONF_UNREADABLE', `cannot read registries.conf ${path}: ${code}`, {
      exitCode: 2,
      hint: 'make the file readable, or pass another with --registries-conf',
      cause: error,
    });
  }
}

async function dropIns(dir: string): Promise<string[]> {
  try {
    const entries = await readdir(dir, { withFileTypes: true });
    return entries
      .filter((entry) => !entry.isDirectory() && entry.name.endsWith('.conf'))
      .map((entry) => entry.name)
      .sort();
  } catch {
    return [];
  }
}

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value === '' ? undefined : value;
}
