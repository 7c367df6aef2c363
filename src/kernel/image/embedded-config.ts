import { gunzipSync } from 'node:zlib';
import { KartError } from '../../errors.ts';
import { sha256Digest, type Digest } from '../../oci/digest.ts';
import { MAX_CONFIG_BYTES } from '../config/read.ts';
import { BuildBannerScanner } from './build-banner.ts';
import { imageCorrupt } from './image-errors.ts';
import { withKernelImage } from './inspect-kernel-image.ts';
import { formatName, kernelPayload } from './kernel-payload.ts';
import type { KernelImageInfo } from './types.ts';

/**
 * The kernel config a kernel built with CONFIG_IKCONFIG carries: `kernel/config_data.gz` (a gzip of
 * the .config) between the ASCII markers IKCFG_ST and IKCFG_ED in .rodata (kernel/configs.c). kart
 * unpacks the kernel's own compression as a stream, looks for `IKCFG_ST` followed by the gzip magic
 * (as scripts/extract-ikconfig does), collects the gzip member up to IKCFG_ED and stops reading there.
 * Held at most: a decoder's window, the compressed config (MAX_COMPRESSED_CONFIG) and the config.
 */
export interface EmbeddedConfig {
  /** the .config, uncompressed, exactly as the build embedded it */
  bytes: Buffer;
  /** sha256 of `bytes` (what KERNEL_CONFIG names) */
  digest: Digest;
  /** the image, with the payload's `Linux version` banner when it came before the config */
  image: KernelImageInfo;
}

const START = Buffer.from('IKCFG_ST\x1f\x8b\x08', 'latin1');
const MARKER_LENGTH = 8; // the gzip member starts right after "IKCFG_ST"
const END = Buffer.from('IKCFG_ED', 'latin1');
/** config_data.gz of a real config is 30-60 KB; a gzip of MAX_CONFIG_BYTES of text is far below this. */
export const MAX_COMPRESSED_CONFIG = 4 << 20;

export async function readEmbeddedConfig(path: string): Promise<EmbeddedConfig> {
  return withKernelImage(path, async (file, head, info) => {
    const format = formatName(info);
    const banner = new BuildBannerScanner();
    let carry = Buffer.alloc(0);
    let member: Buffer | undefined; // bytes from the gzip magic on, once IKCFG_ST was seen
    let searchedTo = 0; // where the search for IKCFG_ED resumes in `member`
    for await (const chunk of kernelPayload(file, head, info)) {
      banner.push(chunk);
      if (member === undefined) {
        const window = carry.length > 0 ? Buffer.concat([carry, chunk]) : chunk;
        const at = window.indexOf(START);
        if (at < 0) {
          carry = Buffer.from(window.subarray(Math.max(0, window.length - (START.length - 1))));
          continue;
        }
        member = Buffer.from(window.subarray(at + MARKER_LENGTH));
      } else {
        member = Buffer.concat([member, chunk]);
      }
      for (;;) {
        const end = member.indexOf(END, searchedTo);
        if (end < 0) {
          searchedTo = Math.max(0, member.length - (END.length - 1));
          break;
        }
        const bytes = inflateMember(member.subarray(0, end), path, format);
        if (bytes !== undefined) {
          const found = banner.banner;
          const image =
            found === undefined || info.format !== 'bzImage' ? info : { ...info, banner: found.line };
          return { bytes, digest: sha256Digest(bytes), image };
        }
        // "IKCFG_ED" inside the compressed data by chance: the member goes on.
        searchedTo = end + 1;
      }
      if (member.length > MAX_COMPRESSED_CONFIG) {
        throw imageCorrupt(
          path,
          format,
          `IKCFG_ST is not followed by IKCFG_ED within ${MAX_COMPRESSED_CONFIG} bytes`,
        );
      }
    }
    if (member !== undefined) {
      throw imageCorrupt(path, format, 'its embedded config starts (IKCFG_ST) but never ends (IKCFG_ED)');
    }
    throw noEmbeddedConfig(path, format, info, banner.banner?.line);
  });
}

/** The gzip member, or undefined when it is cut short (IKCFG_ED was a chance match inside it). */
function inflateMember(member: Buffer, path: string, format: string): Buffer | undefined {
  try {
    return gunzipSync(member, { maxOutputLength: MAX_CONFIG_BYTES });
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'Z_BUF_ERROR') return undefined;
    throw imageCorrupt(
      path,
      format,
      `its embedded config (between IKCFG_ST and IKCFG_ED) does not gunzip: ${(error as Error).message}`,
    );
  }
}

function noEmbeddedConfig(
  path: string,
  format: string,
  info: KernelImageInfo,
  banner: string | undefined,
): KartError {
  const payload =
    info.compression === undefined || info.compression === 'none' ? '' : ` ${info.compression} payload`;
  return new KartError(
    'IMAGE_NO_IKCONFIG',
    `${format} ${path} (${banner ?? info.release}) has no embedded config: no IKCFG_ST marker in its${payload === '' ? ' bytes' : payload}; it was built without CONFIG_IKCONFIG`,
    {
      exitCode: 2,
      hint: "pass the kernel's .config instead: the build's .config, /boot/config-<release> beside the image, or /proc/config.gz on the running kernel",
      details: { format: info.format, release: info.release, ...(banner === undefined ? {} : { banner }) },
    },
  );
}
