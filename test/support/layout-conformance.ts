/**
 * What "every image kart writes is conformant" means in the tests: each platform manifest of each tag
 * in a layout passes the image-spec's own validator (`oci-image-tool validate --type image`, layers
 * unpacked and all), and each image config passes oci-spec-rs 0.6.8's strict reader (krata's).
 *
 * oci-image-tool 1.0.0-rc1 does not descend into a nested index (kart's tags name an index), so each
 * platform manifest is validated through a copy of the layout whose index.json names it directly; the
 * blobs are copied (test images are small).
 */
import { execFileSync } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readStrictImageConfig, type StrictImageConfiguration } from './strict-image-config.ts';

interface Desc {
  mediaType: string;
  digest: string;
  size: number;
  platform?: { os: string; architecture: string };
  annotations?: Record<string, string>;
}

export interface ConformingManifest {
  tag: string;
  manifest: Desc;
  config: StrictImageConfiguration;
  /** oci-image-tool's output */
  validation: string;
}

function blob(dir: string, digest: string): Buffer {
  return readFileSync(join(dir, 'blobs', ...digest.split(':')));
}

/** Validates every platform manifest of every tag; throws on the first failure. */
export function assertLayoutConforms(dir: string): ConformingManifest[] {
  const index = JSON.parse(readFileSync(join(dir, 'index.json'), 'utf8')) as { manifests: Desc[] };
  const out: ConformingManifest[] = [];
  for (const tagged of index.manifests) {
    const tag = tagged.annotations?.['org.opencontainers.image.ref.name'] ?? tagged.digest;
    const entries =
      tagged.mediaType === 'application/vnd.oci.image.index.v1+json'
        ? (JSON.parse(blob(dir, tagged.digest).toString()) as { manifests: Desc[] }).manifests
        : [tagged];
    for (const entry of entries) {
      const manifest = JSON.parse(blob(dir, entry.digest).toString()) as { config: Desc };
      const config = readStrictImageConfig(blob(dir, manifest.config.digest));
      out.push({ tag, manifest: entry, config, validation: validateFlattened(dir, entry) });
    }
  }
  return out;
}

/** assertLayoutConforms, summed up as `<tag> <architecture> <history entries>` per platform manifest. */
export function conformingManifests(dir: string): string[] {
  return assertLayoutConforms(dir).map((checked) => {
    if (!checked.validation.includes('Validation succeeded')) throw new Error(checked.validation);
    return `${checked.tag} ${checked.config.architecture} ${checked.config.history.length}`;
  });
}

function validateFlattened(dir: string, entry: Desc): string {
  const flat = mkdtempSync(join(tmpdir(), 'kart-flat-'));
  try {
    cpSync(join(dir, 'blobs'), join(flat, 'blobs'), { recursive: true, mode: 0 });
    writeFileSync(join(flat, 'oci-layout'), readFileSync(join(dir, 'oci-layout')));
    const ref = { ...entry, annotations: { 'org.opencontainers.image.ref.name': 'flat' } };
    writeFileSync(
      join(flat, 'index.json'),
      JSON.stringify({
        schemaVersion: 2,
        mediaType: 'application/vnd.oci.image.index.v1+json',
        manifests: [ref],
      }),
    );
    // Throws (with its output) unless the validator succeeds.
    return execFileSync('oci-image-tool', ['validate', '--type', 'image', flat], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
    });
  } finally {
    rmSync(flat, { recursive: true, force: true });
  }
}
