/**
 * After a fault run: every blob file in a store must hash to its name. Works on an OCI layout
 * (blobs/<alg>/<hex>, the pull cache is one) and on the registry's filesystem storage
 * (docker/registry/v2/blobs/<alg>/<xx>/<hex>/data), so "never a corrupt blob in a store" is checked
 * on the bytes at rest, not on what a client says.
 */
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { digestHex } from '../../src/oci/digest.ts';
import { digestFile } from '../../src/oci/file-digest.ts';

export interface BlobCheck {
  checked: number;
  corrupt: { path: string; expected: string; actual: string }[];
}

async function sha256Of(path: string): Promise<string> {
  return digestHex((await digestFile(path)).digest);
}

export async function checkLayoutBlobs(layoutDir: string): Promise<BlobCheck> {
  const dir = join(layoutDir, 'blobs', 'sha256');
  const result: BlobCheck = { checked: 0, corrupt: [] };
  if (!existsSync(dir)) return result;
  for (const name of readdirSync(dir)) {
    // Temp files of an interrupted write are not blobs (they are never named by a 64-hex digest).
    if (!/^[0-9a-f]{64}$/.test(name)) continue;
    const actual = await sha256Of(join(dir, name));
    result.checked++;
    if (actual !== name) result.corrupt.push({ path: join(dir, name), expected: name, actual });
  }
  return result;
}

export async function checkRegistryBlobs(storageDir: string): Promise<BlobCheck> {
  const dir = join(storageDir, 'docker', 'registry', 'v2', 'blobs', 'sha256');
  const result: BlobCheck = { checked: 0, corrupt: [] };
  if (!existsSync(dir)) return result;
  for (const prefix of readdirSync(dir)) {
    for (const hex of readdirSync(join(dir, prefix))) {
      const data = join(dir, prefix, hex, 'data');
      if (!existsSync(data)) continue;
      const actual = await sha256Of(data);
      result.checked++;
      if (actual !== hex) result.corrupt.push({ path: data, expected: hex, actual });
    }
  }
  return result;
}
