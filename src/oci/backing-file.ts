import { streamMark } from './stream-mark.ts';

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

const BACKING = streamMark<BackingFile>('kart.backingFile');
export const markBackingFile = BACKING.mark;
export const backingFileOf = BACKING.of;
export const carryBackingFile = BACKING.carry;
