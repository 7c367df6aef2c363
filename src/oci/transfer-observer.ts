import { pipeline, Transform, type Readable } from 'node:stream';
import { KartError } from '../errors.ts';
import { carryVerifiedMark } from './digest.ts';
import type { Descriptor } from './schema.ts';
import type { Ingester, Pusher } from './store.ts';

/**
 * What every long operation (copy, push, pull, pull -k, publish, pack) takes besides its own options:
 * an AbortSignal, honoured mid-transfer, and a callback told about each blob's bytes as they move
 * (the CLI's live progress display is built on it; a program can build its own).
 *
 * Aborting destroys the stream being moved with an ABORTED KartError. Every store already refuses to
 * commit content that did not arrive whole (a layout keeps it in a temp file it removes, a registry
 * never sees the upload's last PUT), and every operation writes its tag, index or install last, so an
 * aborted operation leaves what was there before.
 */
export interface TransferEvent {
  /** start (bytes are about to move; again after a transient failure), progress, done, or skipped (already there) */
  phase: 'start' | 'progress' | 'done' | 'skipped';
  desc: Descriptor;
  /** bytes of `desc` moved so far in this attempt */
  transferred: number;
}

export interface TransferObserver {
  onTransfer?(event: TransferEvent): void;
}

export interface TransferOptions extends TransferObserver {
  signal?: AbortSignal;
}

/** The error an aborted operation rejects with. */
export function abortedError(signal: AbortSignal): KartError {
  return new KartError('ABORTED', 'the operation was aborted before it finished; nothing was changed', {
    exitCode: 2,
    hint: 'run it again; what was already stored completely is not transferred twice',
    cause: signal.reason,
  });
}

/** Throws ABORTED when `signal` has fired: called between the steps of an operation. */
export function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted === true) throw abortedError(signal);
}

/**
 * `content` (the bytes of `desc` being moved), counted into `onTransfer` and cut by `signal`. With
 * neither, `content` itself. Errors travel both ways: a source error reaches the reader, and an abort
 * destroys the source (so a download's connection is closed).
 */
export function observeTransfer(content: Readable, desc: Descriptor, options: TransferOptions): Readable {
  const { signal, onTransfer } = options;
  if (signal === undefined && onTransfer === undefined) return content;
  if (signal?.aborted === true) {
    content.destroy();
    throw abortedError(signal);
  }
  let transferred = 0;
  onTransfer?.({ phase: 'start', desc, transferred });
  const meter = new Transform({
    transform(chunk: Buffer, _encoding, done) {
      transferred += chunk.length;
      onTransfer?.({ phase: 'progress', desc, transferred });
      done(null, chunk);
    },
    flush(done) {
      onTransfer?.({ phase: 'done', desc, transferred });
      done();
    },
  });
  const abort = (): void => {
    meter.destroy(abortedError(signal!));
  };
  signal?.addEventListener('abort', abort, { once: true });
  pipeline(content, meter, () => signal?.removeEventListener('abort', abort));
  // The meter passes the source's errors on (pipeline destroys it with them), so a source that
  // verifies its bytes still does through it: the mark keeps the store from hashing them again.
  return carryVerifiedMark(content, meter);
}

/** `store`, pushing through observeTransfer (for producers that push streams themselves). */
export function observedPusher(store: Pusher, options: TransferOptions): Pusher {
  return { push: (desc, content) => store.push(desc, observeTransfer(content, desc, options)) };
}

/**
 * `store`, ingesting through an abortable stream. Ingested content has no descriptor before it is
 * stored, so only the signal applies (a store that ingests is a local layout: no bytes to watch move).
 */
export function abortableIngester(store: Ingester, signal: AbortSignal | undefined): Ingester {
  return {
    ingest: (content, mediaType) =>
      store.ingest(
        observeTransfer(content, { mediaType, digest: 'sha256:', size: 0 } as Descriptor, { signal }),
        mediaType,
      ),
  };
}
