import { homedir } from 'node:os';
import { join, resolve } from 'node:path';

/** Where the pull cache lives unless --cache says otherwise: $XDG_CACHE_HOME/kart, else ~/.cache/kart. */
export function defaultCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  const xdg = env.XDG_CACHE_HOME;
  // The XDG spec says a relative XDG_CACHE_HOME is invalid and must be ignored.
  if (xdg !== undefined && xdg !== '' && xdg.startsWith('/')) return join(xdg, 'kart');
  return resolve(homedir(), '.cache', 'kart');
}
