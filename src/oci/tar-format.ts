/**
 * The POSIX ustar header layout (pax interchange format, IEEE 1003.1-2001), shared by the writer and
 * the reader so that both agree on every offset. Numbers are octal text, or GNU base-256 binary when
 * they do not fit (the high bit of the first byte marks it).
 */
export const BLOCK_SIZE = 512;

/** [offset, length] of each header field. */
export const Field = {
  name: [0, 100],
  mode: [100, 8],
  uid: [108, 8],
  gid: [116, 8],
  size: [124, 12],
  mtime: [136, 12],
  checksum: [148, 8],
  typeflag: [156, 1],
  linkname: [157, 100],
  magic: [257, 6],
  version: [263, 2],
  uname: [265, 32],
  gname: [297, 32],
  devmajor: [329, 8],
  devminor: [337, 8],
  prefix: [345, 155],
} as const satisfies Record<string, readonly [number, number]>;

export const USTAR_MAGIC = 'ustar\0';
export const GNU_MAGIC = 'ustar ';

/** Bytes needed after `size` bytes of body to reach the next block boundary. */
export function paddingFor(size: number): number {
  const rest = size % BLOCK_SIZE;
  return rest === 0 ? 0 : BLOCK_SIZE - rest;
}

/** The header checksum: the unsigned sum of all bytes with the checksum field read as spaces. */
export function headerChecksum(header: Uint8Array): number {
  const [start, length] = Field.checksum;
  let sum = 0;
  for (let i = 0; i < BLOCK_SIZE; i++) {
    sum += i >= start && i < start + length ? 0x20 : (header[i] ?? 0);
  }
  return sum;
}

/** Some historic writers summed signed bytes; readers accept either. */
export function signedHeaderChecksum(header: Uint8Array): number {
  const [start, length] = Field.checksum;
  let sum = 0;
  for (let i = 0; i < BLOCK_SIZE; i++) {
    const byte = i >= start && i < start + length ? 0x20 : (header[i] ?? 0);
    sum += byte > 127 ? byte - 256 : byte;
  }
  return sum;
}
