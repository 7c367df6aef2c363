/**
 * A stream whose bytes `[offset, offset + size)` are, byte for byte, the file at `path` (a blob kept
 * as a file plus the bytes around it, as the pull cache keeps a one-file layer) carries that under
 * this key, so a consumer that would write those bytes to a new file on the same filesystem can give
 * it a second name instead (shareFile) and only read them to check them. Like the verified mark, a
 * wrapper that ends only when the stream ends may carry it on.
 */
export interface BackingFile {
  path: string;
  offset: number;
  size: number;
}

const BACKING_FILE = Symbol('kart.backingFile');

export function markBackingFile<S extends object>(stream: S, backing: BackingFile): S {
  Object.defineProperty(stream, BACKING_FILE, { value: backing });
  return stream;
}

export function backingFileOf(stream: object): BackingFile | undefined {
  return (stream as { [BACKING_FILE]?: BackingFile })[BACKING_FILE];
}

export function carryBackingFile<S extends object>(source: object, next: S): S {
  const backing = backingFileOf(source);
  return backing === undefined ? next : markBackingFile(next, backing);
}
