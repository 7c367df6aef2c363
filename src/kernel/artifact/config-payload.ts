import { gzipSync } from 'node:zlib';
import { sha256Digest, type Digest } from '../../oci/index.ts';
import { readKernelConfig, serializeKernelConfig, type KernelConfigWithLines } from '../config/index.ts';

/**
 * The `.config` as the artifact carries it: `kernel/config.gz`, gzip of the uncompressed bytes, and
 * KERNEL_CONFIG, the sha256 of those uncompressed bytes. A config is a few hundred KB (bounded by
 * MAX_CONFIG_BYTES), so it is the one payload handled in memory.
 *
 * The file is read once, through the config reader (gzip by content, size bound, UTF-8, a NUL refuses
 * a binary, a config that sets no symbol is refused), and the bytes packed are the parsed config
 * serialized back, which gives the input byte for byte. So whatever is packed has parsed as a
 * config, even with `--no-check`, and the config a flavor check sees is exactly the one packed.
 *
 * The gzip is deterministic: zlib's gzip header has mtime 0 and no file name, level 9 as the
 * producer's `gzip -9`, so the same config always gives the same config.gz (and layer digest).
 */
export interface ConfigPayload {
  /** the parsed config (what a flavor check reads) */
  config: KernelConfigWithLines;
  uncompressed: Buffer;
  gzipped: Buffer;
  /** sha256 of the uncompressed bytes: KERNEL_CONFIG */
  digest: Digest;
}

/** Throws CONFIG_UNREADABLE, CONFIG_INVALID or CONFIG_EMPTY (exit 2) naming the file. */
export async function readConfigPayload(path: string): Promise<ConfigPayload> {
  const config = await readKernelConfig(path, { whole: true });
  const uncompressed = Buffer.from(serializeKernelConfig(config), 'utf8');
  return { config, uncompressed, gzipped: gzipConfig(uncompressed), digest: sha256Digest(uncompressed) };
}

/** gzip with a fixed header (mtime 0, no name) and level 9. */
export function gzipConfig(uncompressed: Uint8Array): Buffer {
  return gzipSync(uncompressed, { level: 9 });
}
