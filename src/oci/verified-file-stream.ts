import type { FileHandle } from 'node:fs/promises';
import { Readable } from 'node:stream';
import { ContentVerifier, type Expected } from './digest.ts';

/**
 * A stored file's content as a stream that checks it against its descriptor as it is read: it errors
 * (SIZE_MISMATCH / DIGEST_MISMATCH) instead of ending when the file is wrong. The reads go straight
 * into the chunks passed on (no fs.ReadStream, no Transform, no generator in between), `chunkSize`
 * bytes each, and only when the reader asks: nothing is read, and so nothing can fail, before someone
 * reads. The handle is closed when the stream ends or is destroyed.
 *
 * With `frame`, the content is `head`, then the whole file, then `tail` (a blob kept as a file plus
 * the bytes around it; see the cache's framed blobs), verified as one.
 */
export function verifiedFileStream(
  handle: FileHandle,
  expected: Expected,
  what: string,
  chunkSize: number,
  frame?: { head: Buffer; tail: Buffer },
): Readable {
  return new VerifiedFileStream(handle, new ContentVerifier(expected, what), chunkSize, frame);
}

class VerifiedFileStream extends Readable {
  readonly #handle: FileHandle;
  readonly #verifier: ContentVerifier;
  readonly #chunkSize: number;
  #position = 0;
  #reading = false;
  #head: Buffer | undefined;
  readonly #tail: Buffer | undefined;

  constructor(
    handle: FileHandle,
    verifier: ContentVerifier,
    chunkSize: number,
    frame?: { head: Buffer; tail: Buffer },
  ) {
    super({ highWaterMark: chunkSize });
    this.#handle = handle;
    this.#verifier = verifier;
    this.#chunkSize = chunkSize;
    this.#head = frame?.head;
    this.#tail = frame?.tail;
  }

  override _read(): void {
    if (this.#reading) return;
    if (this.#head !== undefined) {
      const head = this.#head;
      this.#head = undefined;
      if (this.#pushChecked(head)) return;
    }
    this.#reading = true;
    // A fresh buffer each time: whoever reads may keep the chunk as long as it likes.
    const buffer = Buffer.allocUnsafeSlow(this.#chunkSize);
    this.#handle.read(buffer, 0, buffer.length, this.#position).then(
      ({ bytesRead }) => {
        this.#reading = false;
        if (this.destroyed) return;
        try {
          if (bytesRead === 0) {
            if (this.#tail !== undefined && this.#tail.length > 0) {
              this.#verifier.update(this.#tail);
              this.push(this.#tail);
            }
            this.#verifier.end();
            this.push(null);
            return;
          }
          this.#position += bytesRead;
          const chunk = buffer.subarray(0, bytesRead);
          this.#verifier.update(chunk);
          this.push(chunk);
        } catch (error) {
          this.destroy(error as Error);
        }
      },
      (error: Error) => this.destroy(error),
    );
  }

  /** Passes on a chunk of the frame (true when it was not empty and so answers this read). */
  #pushChecked(chunk: Buffer): boolean {
    if (chunk.length === 0) return false;
    try {
      this.#verifier.update(chunk);
    } catch (error) {
      this.destroy(error as Error);
      return true;
    }
    this.push(chunk);
    return true;
  }

  override _destroy(error: Error | null, done: (error?: Error | null) => void): void {
    // FileHandle.close waits for a read still in flight.
    this.#handle.close().then(
      () => done(error),
      () => done(error),
    );
  }
}
