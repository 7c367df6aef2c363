import { createReadStream } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { createDigester, digestAlgorithm } from '../../oci/digest.ts';
import { DigestSchema } from '../../oci/schema.ts';
import type { InstalledFile } from '../install/index.ts';

/**
 * What DEST holds now, from its kart.json, checked against the files themselves: a pull whose manifest
 * DEST already holds, intact, rewrites nothing. A file that no longer hashes to what kart.json records
 * makes DEST "not holding it", so the pull installs it again.
 */
const KartJsonSchema = z.looseObject({
  manifestDigest: DigestSchema,
  platform: z.object({ os: z.string(), architecture: z.string() }),
  format: z.enum(['kernel-oci', 'linuxkit']),
  files: z.array(
    z.object({
      name: z.enum(['kernel', 'config', 'addons.squashfs', 'metadata', 'kernel.tar']),
      size: z.number().int().nonnegative(),
      digest: DigestSchema,
    }),
  ),
});
export type InstalledState = z.infer<typeof KartJsonSchema>;

export async function intactInstall(dest: string): Promise<InstalledState | undefined> {
  let state: InstalledState;
  try {
    const parsed = KartJsonSchema.safeParse(JSON.parse(await readFile(join(dest, 'kart.json'), 'utf8')));
    if (!parsed.success) return undefined;
    state = parsed.data;
  } catch {
    return undefined;
  }
  for (const file of state.files) {
    if (!(await fileMatches(join(dest, file.name), file))) return undefined;
  }
  return state;
}

async function fileMatches(path: string, file: InstalledFile): Promise<boolean> {
  const hash = createDigester(digestAlgorithm(file.digest));
  let size = 0;
  try {
    for await (const chunk of createReadStream(path)) {
      size += (chunk as Buffer).length;
      hash.update(chunk as Buffer);
    }
  } catch {
    return false;
  }
  return size === file.size && `${digestAlgorithm(file.digest)}:${hash.digest('hex')}` === file.digest;
}
