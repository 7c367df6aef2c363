import { Transform, type TransformCallback } from 'node:stream';
import { KartError } from '../../errors.ts';

/**
 * How much an image may expand into when installed. A compressed layer can claim anything: 33 KB of
 * zstd decompress to a gigabyte. So every kept file has a limit (sized well above any real kernel,
 * config or addons image), checked against its tar header before a byte is written, and every layer's
 * decompressed stream is counted as it flows and cut at a multiple of its compressed size (with a
 * floor), so a bomb fails long before the disk fills.
 */
export interface InstallLimits {
  /** the kernel image (`kernel/image`, LinuxKit `kernel`) */
  kernelBytes: number;
  /** `kernel/config.gz`, and the config it decompresses to */
  configBytes: number;
  /** `kernel/metadata` */
  metadataBytes: number;
  /** `kernel/addons.squashfs`, LinuxKit `kernel.tar` and `kernel-dev.tar` */
  addonsBytes: number;
  /** a compressed layer decompresses to at most this many times its size… */
  layerExpansion: number;
  /** …or this, whichever is larger */
  layerFloorBytes: number;
  /** entries per layer */
  layerEntries: number;
  /**
   * `kernel/rootfs.img` (a guest bundle's image) is bounded by the size its manifest declares
   * (withDeclaredRootfs), and never more than this; a mostly empty image compresses far below 1/64.
   */
  rootfsBytes: number;
}

/** The limits for one manifest: with the rootfs image size a guest bundle declares, when it does. */
export interface ManifestLimits extends InstallLimits {
  declaredRootfsBytes?: number;
}

const MiB = 1024 * 1024;

export const DEFAULT_INSTALL_LIMITS: InstallLimits = {
  kernelBytes: 256 * MiB,
  configBytes: 16 * MiB,
  metadataBytes: 1 * MiB,
  addonsBytes: 4096 * MiB,
  layerExpansion: 64,
  layerFloorBytes: 256 * MiB,
  layerEntries: 200_000,
  rootfsBytes: 64 * 1024 * MiB,
};

/** Room in a layer beyond its one declared file: tar and PAX headers, directory entries, padding. */
const LAYER_TAR_SLACK = 1 * MiB;

/**
 * A guest bundle's manifest declares its image's size (`declared`, the bundle's annotation): that file
 * may then be exactly that large (capped at rootfsBytes), and the layer holding it may expand to it. A
 * missing or malformed declaration leaves the ordinary bounds.
 */
export function withDeclaredRootfs(limits: InstallLimits, declared: string | undefined): ManifestLimits {
  if (declared === undefined || !/^[1-9][0-9]{0,15}$/.test(declared)) return limits;
  const bytes = Math.min(Number(declared), limits.rootfsBytes);
  return { ...limits, rootfsBytes: bytes, declaredRootfsBytes: bytes };
}

/** The limit for a kept path of the image, by what it is. */
export function fileLimit(limits: InstallLimits, path: string): number | undefined {
  switch (path) {
    case 'kernel/image':
    case 'kernel':
      return limits.kernelBytes;
    case 'kernel/config.gz':
      return limits.configBytes;
    case 'kernel/metadata':
      return limits.metadataBytes;
    case 'kernel/addons.squashfs':
    case 'kernel.tar':
    case 'kernel-dev.tar':
      return limits.addonsBytes;
    case 'kernel/rootfs.img':
      return limits.rootfsBytes;
    default:
      return undefined;
  }
}

/**
 * How many bytes a layer of `compressedSize` may decompress to; one that may hold a guest bundle's
 * image (`holdsRootfs`) may also expand to the image's declared size.
 */
export function layerExpansionLimit(
  limits: ManifestLimits,
  compressedSize: number,
  holdsRootfs = false,
): number {
  const rootfs =
    holdsRootfs && limits.declaredRootfsBytes !== undefined
      ? limits.declaredRootfsBytes + LAYER_TAR_SLACK
      : 0;
  return Math.max(limits.layerFloorBytes, compressedSize * limits.layerExpansion, rootfs);
}

/** Passes bytes through and fails once more than `limit` went by. */
export class ByteLimit extends Transform {
  readonly #limit: number;
  readonly #tooMuch: () => KartError;
  #seen = 0;

  constructor(limit: number, tooMuch: () => KartError) {
    super();
    this.#limit = limit;
    this.#tooMuch = tooMuch;
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    this.#seen += chunk.length;
    if (this.#seen > this.#limit) done(this.#tooMuch());
    else done(null, chunk);
  }
}

/** A layer whose bytes do not decompress, or decompress to far more than a layer should. */
export function layerInvalid(layer: string, why: string, cause?: unknown): KartError {
  return new KartError('LAYER_INVALID', `layer ${layer} ${why}`, {
    exitCode: 1,
    hint: 'the image is damaged or hostile; nothing was installed and the destination is unchanged',
    details: { layer },
    ...(cause === undefined ? {} : { cause }),
  });
}

/** zlib and zstd report damaged input with these codes (Z_DATA_ERROR, Z_BUF_ERROR, ZSTD_error_*). */
export function isDecompressionError(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return (
    typeof code === 'string' &&
    (code.startsWith('Z_') || code.startsWith('ZSTD_') || code === 'ERR_ZLIB_INITIALIZATION_FAILED')
  );
}
