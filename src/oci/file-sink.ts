import { open, type FileHandle } from 'node:fs/promises';
import type { Readable } from 'node:stream';

/**
 * Writes a stream into a new file in few, large writes, and fsyncs it: the way a blob reaches disk.
 * A fs.WriteStream issues one write (one thread-pool round trip, one wake-up) per chunk the network
 * hands over, ~64 KiB; at 113 MB that was most of a pull's main-thread time besides hashing. Here the
 * chunks are gathered, untouched (no copy), and written together with one writev per MiB, while the
 * next MiB gathers; the source is paused when a second batch is full, so at most ~2 MiB wait in memory.
 * `inspect` sees every chunk first, in order (a hash, a size check); what it throws fails the write.
 */
const BATCH_BYTES = 1024 * 1024;

export async function writeNewFile(
  content: Readable,
  path: string,
  inspect?: (chunk: Buffer) => void,
  /** sync false: the caller fsyncs it later, with others (the install core, before its swap) */
  { sync = true }: { sync?: boolean } = {},
): Promise<void> {
  let handle: FileHandle;
  try {
    handle = await open(path, 'wx', 0o644);
  } catch (error) {
    content.destroy();
    throw error;
  }
  try {
    await drainInto(content, handle, inspect);
    // Durable before the caller renames it into place.
    if (sync) await handle.sync();
  } catch (error) {
    await handle.close().catch(() => undefined);
    throw error;
  }
  await handle.close();
}

function drainInto(content: Readable, handle: FileHandle, inspect?: (chunk: Buffer) => void): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    let batch: Buffer[] = [];
    let batchBytes = 0;
    let writing = false;
    let ended = false;
    let settled = false;

    const fail = (error: unknown): void => {
      if (settled) return;
      settled = true;
      content.off('data', onData);
      content.destroy();
      reject(error as Error);
    };
    const next = (): void => {
      if (settled || writing) return;
      if (batchBytes >= BATCH_BYTES || (ended && batchBytes > 0)) {
        const chunks = batch;
        batch = [];
        batchBytes = 0;
        writing = true;
        writeAll(handle, chunks).then(() => {
          writing = false;
          if (content.isPaused() && !ended) content.resume();
          next();
        }, fail);
      } else if (ended) {
        settled = true;
        resolve();
      }
    };
    function onData(chunk: Buffer): void {
      try {
        inspect?.(chunk);
      } catch (error) {
        fail(error);
        return;
      }
      batch.push(chunk);
      batchBytes += chunk.length;
      if (batchBytes < BATCH_BYTES) return;
      // A full batch waits for the write before it: stop the source until that write is done.
      if (writing) content.pause();
      else next();
    }
    // The content may have failed (or been destroyed) while the file was being opened.
    if (content.errored) return fail(content.errored);
    if (content.destroyed) return fail(prematureClose());
    content.on('data', onData);
    content.once('error', fail);
    content.once('end', () => {
      ended = true;
      next();
    });
    content.once('close', () => {
      // Destroyed without an error and without its end: the content is incomplete.
      if (!ended) fail(prematureClose());
    });
  });
}

function prematureClose(): Error {
  return Object.assign(new Error('the content stream closed before its end'), {
    code: 'ERR_STREAM_PREMATURE_CLOSE',
  });
}

/** Writes all of `chunks` at the file's position, going on after a short write. */
async function writeAll(handle: FileHandle, chunks: Buffer[]): Promise<void> {
  let left = chunks;
  let bytes = left.reduce((sum, chunk) => sum + chunk.length, 0);
  while (bytes > 0) {
    const { bytesWritten } = await handle.writev(left);
    if (bytesWritten === 0) throw Object.assign(new Error('write wrote nothing'), { code: 'EIO' });
    bytes -= bytesWritten;
    left = afterBytes(left, bytesWritten);
  }
}

function afterBytes(chunks: Buffer[], count: number): Buffer[] {
  let skip = count;
  let index = 0;
  while (index < chunks.length && skip >= chunks[index]!.length) skip -= chunks[index++]!.length;
  const rest = chunks.slice(index);
  if (skip > 0 && rest.length > 0) rest[0] = rest[0]!.subarray(skip);
  return rest;
}
