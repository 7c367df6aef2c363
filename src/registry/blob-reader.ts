import { Readable } from 'node:stream';
import { KartError } from '../errors.ts';
import { errorFromNetwork } from './registry-errors.ts';
import { ContentVerifier, markVerified } from '../oci/digest.ts';
import type { Descriptor } from '../oci/schema.ts';
import {
  failure,
  header,
  type RegistryHttpClient,
  type RegistryRequest,
  type RegistryResponse,
} from './http-client.ts';

/**
 * Streams a blob GET, verified as it flows (size and digest), and resumes after a cut connection with
 * `Range: bytes=<received>-` instead of starting over; a registry without Range support sends the whole
 * blob again, and the bytes already passed on are skipped. The returned stream errors with
 * SIZE_MISMATCH / DIGEST_MISMATCH when the content is wrong, so nothing unverified is ever "complete".
 */
export interface BlobReadOptions {
  /** how many times a cut transfer is resumed before giving up */
  maxResumes?: number;
}

export async function readBlob(
  client: RegistryHttpClient,
  request: RegistryRequest,
  desc: Descriptor,
  options: BlobReadOptions = {},
): Promise<Readable> {
  const opened = await openFirst(client, request, desc, 0);
  const verifier = new ContentVerifier({ digest: desc.digest, size: desc.size }, request.what);
  const stream = new ResumingBlobStream(client, request, desc, opened, options, verifier);
  return markVerified(stream, desc.digest);
}

export interface BlobBytesOptions extends BlobReadOptions {
  /**
   * the first byte wanted (default 0): asked with Range; a registry that answers 200 with the whole
   * blob instead has the bytes before it skipped (read, not kept). Used to carry on a blob another
   * source broke off.
   */
  start?: number;
}

/**
 * The bytes of a blob from `start` to its end, NOT verified (the caller hashes the whole blob): the
 * first request is sent now, so a refusal (404, 401, …) rejects here rather than in the stream.
 */
export async function openBlobBytes(
  client: RegistryHttpClient,
  request: RegistryRequest,
  desc: Descriptor,
  options: BlobBytesOptions = {},
): Promise<AsyncGenerator<Buffer>> {
  const opened = await openFirst(client, request, desc, options.start ?? 0);
  const stream = new ResumingBlobStream(client, request, desc, opened, options);
  return (async function* () {
    yield* stream as AsyncIterable<Buffer>;
  })();
}

interface Opened {
  response: RegistryResponse;
  /** bytes the response sends before the first one wanted (a 200 to a ranged request) */
  skip: number;
  /** the first byte wanted */
  start: number;
}

/** The first request for a blob's bytes from `start`: refusals and a wrong length reject here. */
async function openFirst(
  client: RegistryHttpClient,
  request: RegistryRequest,
  desc: Descriptor,
  start: number,
): Promise<Opened> {
  const first = await client.request({
    ...(start > 0 ? ranged(request, start, desc.size) : request),
    expectedBytes: desc.size - start,
  });
  if (start > 0 && first.status === 206) {
    const range = header(first.headers, 'content-range');
    if (!range?.startsWith(`bytes ${start}-`)) {
      first.body.destroy();
      throw new KartError(
        'TRANSFER_INTERRUPTED',
        `${request.what}: asked for bytes from ${start}, the registry sent ${range ?? 'no Content-Range'}`,
        { exitCode: 3, hint: 'the registry answers Range requests wrongly' },
      );
    }
    return { response: first, skip: 0, start };
  }
  if (first.status !== 200) throw await failure(first, request.what);
  const length = header(first.headers, 'content-length');
  if (length !== undefined && Number(length) !== desc.size) {
    first.body.destroy();
    throw new KartError(
      'SIZE_MISMATCH',
      `${request.what}: the registry announces ${length} bytes, the descriptor says ${desc.size}`,
      {
        exitCode: 1,
        hint: 'the registry holds different content under this digest; nothing was kept',
      },
    );
  }
  return { response: first, skip: start, start };
}

/**
 * A blob's bytes as one stream across resumed requests. The response bodies' chunks are passed on as
 * they come ('data' events, paused while this stream is full): no async iterator (which concatenates
 * whatever waits into a new buffer) and no stream in between. With a verifier every chunk is checked
 * on its way, and the stream errors instead of ending when the whole is wrong.
 */
class ResumingBlobStream extends Readable {
  readonly #client: RegistryHttpClient;
  readonly #request: RegistryRequest;
  readonly #desc: Descriptor;
  readonly #maxResumes: number;
  readonly #verifier: ContentVerifier | undefined;
  readonly #start: number;
  #body: Readable | undefined;
  #url: URL;
  /** bytes of the blob seen so far, counting from byte 0 (skipped ones included) */
  #received: number;
  /** bytes the current body sends that were passed on already: skipped */
  #skip = 0;
  #resumes = 0;
  #stalls = 0;

  constructor(
    client: RegistryHttpClient,
    request: RegistryRequest,
    desc: Descriptor,
    opened: Opened,
    options: BlobReadOptions,
    verifier?: ContentVerifier,
  ) {
    // The default high-water mark waits here before the body is paused.
    super();
    this.#client = client;
    this.#request = request;
    this.#desc = desc;
    this.#maxResumes = options.maxResumes ?? 5;
    this.#verifier = verifier;
    this.#start = opened.start;
    this.#received = opened.start - opened.skip;
    this.#url = opened.response.url;
    // Whoever reads gets the error through their own listener (pipeline, for await); a reader that
    // already stopped listening (it failed first) must not turn a late one into an uncaught exception.
    this.on('error', () => {});
    this.#attach(opened.response.body);
  }

  override _read(): void {
    if (this.#body?.isPaused()) this.#body.resume();
  }

  override _destroy(error: Error | null, done: (error?: Error | null) => void): void {
    this.#detach();
    done(error);
  }

  #attach(body: Readable): void {
    this.#body = body;
    body.on('data', this.#onData);
    body.once('error', this.#onError);
    body.once('end', this.#onEnd);
  }

  #detach(): void {
    const body = this.#body;
    if (body === undefined) return;
    this.#body = undefined;
    body.off('data', this.#onData);
    body.off('error', this.#onError);
    body.off('end', this.#onEnd);
    // an error a destroyed body still emits has nobody left to tell
    body.on('error', () => {});
    body.destroy();
  }

  readonly #onData = (chunk: Buffer): void => {
    let buffer = chunk;
    if (this.#skip > 0) {
      const unwanted = Math.min(this.#skip, buffer.length);
      this.#skip -= unwanted;
      buffer = buffer.subarray(unwanted);
      if (buffer.length === 0) return;
    }
    if (this.#received < this.#start) {
      const unwanted = Math.min(this.#start - this.#received, buffer.length);
      this.#received += unwanted;
      buffer = buffer.subarray(unwanted);
      if (buffer.length === 0) return;
    }
    this.#received += buffer.length;
    try {
      this.#verifier?.update(buffer);
    } catch (error) {
      this.destroy(error as Error);
      return;
    }
    if (!this.push(buffer)) this.#body?.pause();
  };

  readonly #onEnd = (): void => {
    this.#detach();
    // Done, or more than promised (the verifier reports that): nothing to resume.
    if (this.#received >= this.#desc.size) {
      try {
        this.#verifier?.end();
      } catch (error) {
        this.destroy(error as Error);
        return;
      }
      this.push(null);
      return;
    }
    void this.#resume(undefined);
  };

  readonly #onError = (error: unknown): void => {
    this.#detach();
    // Past the operation's deadline there is nothing to resume.
    if (error instanceof KartError && error.code === 'OPERATION_TIMEOUT') {
      this.destroy(error);
      return;
    }
    // A registry that went silent mid-blob gets one resume, not one per retry: each costs the idle limit.
    if ((error as { code?: unknown } | null)?.code === 'UND_ERR_BODY_TIMEOUT' && this.#stalls++ >= 1) {
      this.destroy(errorFromNetwork(error, this.#url, this.#request.what));
      return;
    }
    if (this.#received >= this.#desc.size) {
      this.#onEnd();
      return;
    }
    void this.#resume(error);
  };

  /** Asks for the rest of the blob from the byte it broke off at, or fails the stream. */
  async #resume(cut: unknown): Promise<void> {
    const received = this.#received;
    const { what } = this.#request;
    try {
      if (this.#resumes++ >= this.#maxResumes) {
        throw new KartError(
          'TRANSFER_INTERRUPTED',
          `${what}: the transfer broke off at byte ${received} of ${this.#desc.size}`,
          {
            exitCode: 3,
            transient: true,
            hint: 'the connection keeps dropping; retry later',
            cause: cut,
          },
        );
      }
      const response = await this.#client.request(ranged(this.#request, received, this.#desc.size));
      if (this.destroyed) {
        response.body.destroy();
        return;
      }
      this.#url = response.url;
      if (response.status === 200) {
        // No Range support: the blob starts again from byte 0; what was passed on already is skipped.
        this.#skip = received;
        this.#attach(response.body);
        return;
      }
      const range = header(response.headers, 'content-range');
      if (response.status !== 206 || !range?.startsWith(`bytes ${received}-`)) {
        response.body.destroy();
        throw new KartError(
          'TRANSFER_INTERRUPTED',
          `${what}: the transfer broke off at byte ${received} and the registry cannot resume it (HTTP ${response.status})`,
          {
            exitCode: 3,
            // Starting the whole transfer over (what a caller does with a transient failure) works.
            transient: true,
            hint: 'retry; the registry does not support Range requests',
            cause: cut,
          },
        );
      }
      this.#attach(response.body);
    } catch (error) {
      this.destroy(error as Error);
    }
  }
}

function ranged(request: RegistryRequest, start: number, size: number): RegistryRequest {
  return { ...request, headers: { ...request.headers, range: `bytes=${start}-${size - 1}` } };
}
