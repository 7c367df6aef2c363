import { readFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { KartError } from '../../errors.ts';
import { parseCatalogue } from './catalogue-file.ts';
import type { Catalogue } from './types.ts';

/** A catalogue is a few kilobytes; refuse to read something that is plainly not one. */
const MAX_CATALOGUE_BYTES = 1024 * 1024;

/**
 * Reads and parses a catalogue file; relative build directories and flavor paths in it are taken
 * relative to the file's own directory, so it works from any working directory.
 * Throws CATALOGUE_UNREADABLE (missing, a directory, too large) or CATALOGUE_INVALID.
 */
export async function readCatalogueFile(path: string): Promise<Catalogue> {
  let bytes: Buffer;
  try {
    bytes = await readFile(path);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? 'unknown error';
    const what =
      code === 'ENOENT'
        ? 'does not exist'
        : code === 'EISDIR'
          ? 'is a directory'
          : `cannot be read (${code})`;
    throw new KartError('CATALOGUE_UNREADABLE', `catalogue ${path} ${what}`, {
      exitCode: 2,
      hint: 'pass the path of a catalogue .ini file, e.g. kernels/sample.ini',
      details: { file: path },
      cause: error,
    });
  }
  if (bytes.byteLength > MAX_CATALOGUE_BYTES) {
    throw new KartError(
      'CATALOGUE_UNREADABLE',
      `catalogue ${path} is ${bytes.byteLength} bytes; a catalogue is at most ${MAX_CATALOGUE_BYTES}`,
      {
        exitCode: 2,
        hint: 'pass the path of a catalogue .ini file, e.g. kernels/sample.ini',
        details: { file: path },
      },
    );
  }
  return parseCatalogue(bytes.toString('utf8'), path, { directory: dirname(resolve(path)) });
}
