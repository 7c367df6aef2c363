import { readFile } from 'node:fs/promises';
import { gunzipSync, gzipSync } from 'node:zlib';
import { KartError } from '../../errors.ts';
import { sha256Digest, type Digest } from '../../oci/index.ts';
import { MAX_CONFIG_BYTES } from '../config/index.ts';

/**
 * The `.config` as the artifact carries it: `kernel/config.gz`, gzip of the uncompressed bytes, and
 * KERNEL_CONFIG, the sha256 of those uncompressed bytes. A config is a few hundred KB (bounded by
 * MAX_CONFIG_BYTES), so it is the one payload handled in memory.
 *
 * The gzip is deterministic: zlib's gzip header has mtime 0 and no file name, level 9 as the
 * producer's `gzip -9`, so the same config always gives the same config.gz (and layer digest).
 */
export interface ConfigPayload {
  uncompressed: Buffer;
  gzipped: Buffer;
  /** sha256 of the uncompressed bytes: KERNEL_CONFIG */
  digest: Digest;
}

export async function readConfigPayload(path: string): Promise<ConfigPayload> {
  let raw: Buffer;
  try {
    raw = await readFile(path);
  } catch (error) {
    throw new KartError(
      'CONFIG_UNREADABLE',
      `cannot read kernel config ${path}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`,
      {
        hint: 'check the path given with --config',
      },
    );
  }
  const uncompressed = isGzip(raw) ? gunzipConfig(raw, path) : raw;
  if (uncompressed.length > MAX_CONFIG_BYTES) {
    throw new KartError(
      'CONFIG_INVALID',
      `${path} is larger than ${MAX_CONFIG_BYTES} bytes; this is not a kernel .config`,
      {
        hint: 'pass the build tree .config or its config.gz',
      },
    );
  }
  return { uncompressed, gzipped: gzipConfig(uncompressed), digest: sha256Digest(uncompressed) };
}

/** gzip with a fixed header (mtime 0, no name) and level 9. */
export function gzipConfig(uncompressed: Uint8Array): Buffer {
  return gzipSync(uncompressed, { level: 9 });
}

function isGzip(bytes: Buffer): boolean {
  return bytes.length >= 2 && bytes[0] === 0x1f && bytes[1] === 0x8b;
}

function gunzipConfig(bytes: Buffer, path: string): Buffer {
  try {
    return gunzipSync(bytes, { maxOutputLength: MAX_CONFIG_BYTES + 1 });
  } catch (error) {
    throw new KartError(
      'CONFIG_INVALID',
      `${path} starts like gzip but does not decompress (${(error as Error).message})`,
      {
        hint: 'pass a complete config.gz or the uncompressed .config',
      },
    );
  }
}
