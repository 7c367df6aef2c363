import { isAbsolute, relative } from 'node:path';

/**
 * A path as a person (and a CI annotation) should read it: relative to the working directory when
 * the file lies inside it (`flavors/zone.ini`), absolute otherwise.
 */
export function displayPath(absolutePath: string, cwd = process.cwd()): string {
  const rel = relative(cwd, absolutePath);
  return rel === '' || rel.startsWith('..') || isAbsolute(rel) ? absolutePath : rel;
}

/** A config source as messages show it: stdin (`-`) as <stdin>, anything else as given. */
export function displayConfigSource(source: string): string {
  return source === '-' ? '<stdin>' : source;
}
