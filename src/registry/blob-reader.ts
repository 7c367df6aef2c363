import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { KartError } from '../errors.ts';
import { errorFromNetwork } from './registry-errors.ts';
import { VerifyingStream, markVerified } from '../oci/digest.ts';
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
  const bytes = await openBlobBytes(client, request, desc, options);
  const verifier = new VerifyingStream({ digest: desc.digest, size: desc.size }, request.what);
  // pipeline destroys both ends on failure, so the caller sees the error on `verifier`.
  pipeline(Readable.from(bytes, { objectMode: false }), verifier).catch(() => {});
  return markVerified(verifier, desc.digest);
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
  const start = options.start ?? 0;
  const first = await client.request({
    ...(start > 0 ? ranged(request, start, desc.size) : request),
    expectedBytes: desc.size - start,
  });
  let skip = 0;
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
  } else {
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
    skip = start;
  }
  const maxResumes = options.maxResumes ?? 5;

  async function* bytes(): AsyncGenerator<Buffer> {
    let response: RegistryResponse = first;
    let received = start - skip;
    let resumes = 0;
    let stalls = 0;
    for (;;) {
      let cut: unknown;
      try {
        for await (const chunk of response.body) {
          let buffer = chunk as Buffer;
          if (received < start) {
            const unwanted = Math.min(start - received, buffer.length);
            received += unwanted;
            buffer = buffer.subarray(unwanted);
            if (buffer.length === 0) continue;
          }
          received += buffer.length;
          yield buffer;
        }
      } catch (error) {
        // Past the operation's deadline there is nothing to resume.
        if (error instanceof KartError && error.code === 'OPERATION_TIMEOUT') throw error;
        // A registry that went silent mid-blob gets one resume, not one per retry: each costs the idle limit.
        if ((error as { code?: unknown } | null)?.code === 'UND_ERR_BODY_TIMEOUT' && stalls++ >= 1) {
          throw errorFromNetwork(error, response.url, request.what);
        }
        cut = error;
      } finally {
        response.body.destroy();
      }
      // Done, or more than promised (the verifier reports that): nothing to resume.
      if (received >= desc.size) return;
      if (resumes++ >= maxResumes) {
        throw new KartError(
          'TRANSFER_INTERRUPTED',
          `${request.what}: the transfer broke off at byte ${received} of ${desc.size}`,
          {
            exitCode: 3,
            transient: true,
            hint: 'the connection keeps dropping; retry later',
            cause: cut,
          },
        );
      }
      response = await client.request(ranged(request, received, desc.size));
      const range = header(response.headers, 'content-range');
      if (response.status === 200) {
        // No Range support: the blob starts again from byte 0; what was passed on already is skipped.
        response = { ...response, body: skipBytes(response.body, received) };
        continue;
      }
      if (response.status !== 206 || !range?.startsWith(`bytes ${received}-`)) {
        response.body.destroy();
        throw new KartError(
          'TRANSFER_INTERRUPTED',
          `${request.what}: the transfer broke off at byte ${received} and the registry cannot resume it (HTTP ${response.status})`,
          {
            exitCode: 3,
            hint: 'retry; the registry does not support Range requests',
            cause: cut,
          },
        );
      }
    }
  }
  return bytes();
}

function ranged(request: RegistryRequest, start: number, size: number): RegistryRequest {
  return { ...request, headers: { ...request.headers, range: `bytes=${start}-${size - 1}` } };
}

/** `body` without its first `count` bytes (the part of a restarted blob already passed on). */
function skipBytes(body: Readable, count: number): Readable {
  let left = count;
  const rest = Readable.from(
    (async function* () {
      for await (const chunk of body) {
        const buffer = chunk as Buffer;
        if (left >= buffer.length) {
          left -= buffer.length;
          continue;
        }
        yield left > 0 ? buffer.subarray(left) : buffer;
        left = 0;
      }
    })(),
    { objectMode: false },
  );
  rest.once('close', () => body.destroy());
  return rest;
}
