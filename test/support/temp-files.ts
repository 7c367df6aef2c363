import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

/**
 * Files under `root` that only an unfinished write leaves: anything in a layout's `.kart-ingest/`
 * (blobs being verified) and any `*.tmp` (atomic replaces of index.json, refs.json, a cache being
 * created). An operation that ended, however it ended, leaves none.
 */
export function leftoverTempFiles(root: string): string[] {
  if (!existsSync(root)) return [];
  return readdirSync(root, { recursive: true })
    .map(String)
    .filter((name) => !statSync(join(root, name)).isDirectory())
    .filter((name) => name.split('/').includes('.kart-ingest') || name.endsWith('.tmp'));
}
