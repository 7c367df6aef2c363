import type { KernelCompression } from './types.ts';

// The magics the kernel's own decompressors look for (lib/decompress.c), longest first.
const MAGICS: ReadonlyArray<readonly [KernelCompression, readonly number[]]> = [
  ['xz', [0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]],
  ['zstd', [0x28, 0xb5, 0x2f, 0xfd]],
  ['lz4', [0x02, 0x21, 0x4c, 0x18]], // the legacy lz4 frame that `lz4 -l` writes for kernels
  ['lzo', [0x89, 0x4c, 0x5a, 0x4f]],
  ['bzip2', [0x42, 0x5a, 0x68]],
  ['lzma', [0x5d, 0x00, 0x00]],
  ['gzip', [0x1f, 0x8b]],
];

/** Names the compression whose magic starts `bytes`, or undefined. */
export function compressionFromMagic(bytes: Uint8Array): KernelCompression | undefined {
  for (const [name, magic] of MAGICS) {
    if (magic.every((byte, i) => bytes[i] === byte)) return name;
  }
  return undefined;
}

/** The longest magic: how many bytes compressionFromMagic needs to see. */
export const LONGEST_MAGIC = Math.max(...MAGICS.map(([, magic]) => magic.length));
