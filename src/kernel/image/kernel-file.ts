import { Readable } from 'node:stream';
import { open, type FileHandle } from 'node:fs/promises';
import { imageUnreadable } from './image-errors.ts';

const CHUNK_BYTES = 1 << 16;

/**
 * A kernel image opened for positional reads: sniffing needs a few hundred bytes at known offsets,
 * never the whole file.
 */
export class KernelFile {
  readonly path: string;
  readonly size: number;
  readonly #handle: FileHandle;

  private constructor(path: string, handle: FileHandle, size: number) {
    this.path = path;
    this.#handle = handle;
    this.size = size;
  }

  static async open(path: string): Promise<KernelFile> {
    let handle: FileHandle;
    try {
      handle = await open(path, 'r');
    } catch (error) {
      throw imageUnreadable(path, error);
    }
    try {
      const stat = await handle.stat();
      if (!stat.isFile()) {
        throw Object.assign(new Error('not a regular file'), {
          code: stat.isDirectory() ? 'EISDIR' : 'ENOTREG',
        });
      }
      return new KernelFile(path, handle, stat.size);
    } catch (error) {
      await handle.close();
      throw imageUnreadable(path, error);
    }
  }

  /** Reads up to `length` bytes at `offset`; shorter only where the file ends. */
  async readAt(offset: number, length: number): Promise<Buffer> {
    const want = Math.max(0, Math.min(length, this.size - offset));
    const buffer = Buffer.alloc(want);
    let filled = 0;
    while (filled < want) {
      let bytesRead: number;
      try {
        ({ bytesRead } = await this.#handle.read(buffer, filled, want - filled, offset + filled));
      } catch (error) {
        throw imageUnreadable(this.path, error);
      }
      if (bytesRead === 0) break; // the file shrank under us: callers treat a short read as truncation
      filled += bytesRead;
    }
    return buffer.subarray(0, filled);
  }

  /**
   * The bytes from `start` up to `end` (exclusive; default the end of the file), as a stream in
   * bounded chunks. Positional reads: destroying the stream (a reader that stopped early) leaves the
   * handle open for the next one, which a FileHandle's own read stream would close.
   */
  stream(start = 0, end = this.size): Readable {
    const read = (offset: number, length: number): Promise<Buffer> => this.readAt(offset, length);
    return Readable.from(
      (async function* () {
        for (let offset = start; offset < end;) {
          const chunk = await read(offset, Math.min(CHUNK_BYTES, end - offset));
          if (chunk.length === 0) return; // the file shrank: readers report what they miss
          offset += chunk.length;
          yield chunk;
        }
      })(),
      { objectMode: false },
    );
  }

  async close(): Promise<void> {
    await this.#handle.close();
  }
}
