import { readFile, stat } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { digestHex, type Digest } from '../../oci/digest.ts';
import { fileHolds } from '../../oci/file-digest.ts';
import {
  array,
  checkShape,
  int,
  looseObject,
  object,
  oneOf,
  string,
  type Infer,
} from '../../oci/json-shape.ts';
import { DigestSchema } from '../../oci/schema.ts';
import { trustedVersionDir, versionHolds } from '../install/install-area.ts';
import type { InstalledFile } from '../install/install-kernel.ts';

/**
 * What DEST holds now, from its kart.json, checked against the files themselves: a pull whose manifest
 * DEST already holds, intact, rewrites nothing. A file that does not match what kart.json records makes
 * DEST "not holding it", so the pull installs it again.
 *
 * The check before every boot must be cheap, so by default it is structural: DEST resolves to the
 * version directory named after kart.json's manifest digest (`<hex>`, or `<hex>.<random>` after a
 * repair; the install core creates it only after verifying every byte, and renames it into place
 * whole), and every file has its recorded size. `verifyContent` re-hashes every file as well (`kart pull -k --verify-installed`).
 */
const KartJsonSchema = looseObject({
  manifestDigest: DigestSchema,
  platform: object({ os: string(), architecture: string() }),
  format: oneOf(['kernel-oci', 'linuxkit']),
  files: array(
    object({
      name: oneOf(['kernel', 'config', 'addons.squashfs', 'metadata', 'kernel.tar', 'rootfs.img']),
      size: int({ min: 0 }),
      digest: DigestSchema,
    }),
  ),
});
export type InstalledState = Infer<typeof KartJsonSchema>;

export interface IntactInstallOptions {
  /** re-hash every installed file against kart.json (default: sizes and the version directory only) */
  verifyContent?: boolean;
}

export async function intactInstall(
  dest: string,
  options: IntactInstallOptions = { verifyContent: true },
): Promise<InstalledState | undefined> {
  // Only a version directory kart made, reached through kart's own symlink, is believed at all.
  const versionDir = await trustedVersionDir(dest);
  if (versionDir === undefined) return undefined;
  let state: InstalledState;
  try {
    const parsed = checkShape(
      KartJsonSchema,
      JSON.parse(await readFile(join(versionDir, 'kart.json'), 'utf8')),
    );
    if (!parsed.ok) return undefined;
    state = parsed.value;
  } catch {
    return undefined;
  }
  if (!versionHolds(basename(versionDir), digestHex(state.manifestDigest))) {
    return undefined;
  }
  for (const file of state.files) {
    const path = join(versionDir, file.name);
    const intact =
      options.verifyContent === true ? await fileMatches(path, file) : await sizeMatches(path, file);
    if (!intact) return undefined;
  }
  return state;
}

async function sizeMatches(path: string, file: InstalledFile): Promise<boolean> {
  const info = await stat(path).catch(() => undefined);
  return info?.isFile() === true && info.size === file.size;
}

function fileMatches(path: string, file: InstalledFile): Promise<boolean> {
  return fileHolds(path, { digest: file.digest as Digest, size: file.size });
}
