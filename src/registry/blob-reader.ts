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
  const first = await client.request({ ...request, expectedBytes: desc.size });
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
  const maxResumes = options.maxResumes ?? 5;
  const verifier = new VerifyingStream({ digest: desc.digest, size: desc.size }, request.what);

  async function* bytes(): AsyncGenerator<Buffer> {
    let response: RegistryResponse = first;
    let received = 0;
    let resumes = 0;
    let stalls = 0;
    for (;;) {
      let cut: unknown;
      try {
        for await (const chunk of response.body) {
          received += (chunk as Buffer).length;
          yield chunk as Buffer;
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
      response = await client.request({
        ...request,
        headers: { ...request.headers, range: `bytes=${received}-${desc.size - 1}` },
      });
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

  // pipeline destroys both ends on failure, so the caller sees the error on `verifier`.
  pipeline(Readable.from(bytes(), { objectMode: false }), verifier).catch(() => {});
  return markVerified(verifier, desc.digest);
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
