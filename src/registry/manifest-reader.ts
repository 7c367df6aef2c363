import { KartError, isKartError } from '../errors.ts';
import { readBounded } from '../oci/bounded-read.ts';
import {
  digestAlgorithm,
  digestBytes,
  isDigest,
  parseDigest,
  requireVerifiableDigest,
  type Digest,
} from '../oci/digest.ts';
import { MAX_MANIFEST_BYTES, isManifestMediaType } from '../oci/media-types.ts';
import type { Readable } from 'node:stream';
import type { Descriptor } from '../oci/schema.ts';
import { header, type RegistryResponse } from './http-client.ts';
import { errorFromNetwork } from './registry-errors.ts';

/**
 * Reads a manifest answer whole (manifests are small JSON; anything over 4 MiB is refused before or
 * while reading) and checks it: the body's own hash is what counts. Docker-Content-Digest, when sent,
 * must equal that hash; it is never taken on its own word. A manifest Content-Type must agree with the
 * document's own mediaType.
 */
export interface ManifestBody {
  bytes: Buffer;
  digest: Digest;
  mediaType: string;
}

export async function readManifestBody(
  response: RegistryResponse,
  what: string,
  expected?: { digest?: Digest; size?: number },
): Promise<ManifestBody> {
  const announced = header(response.headers, 'content-length');
  if (announced !== undefined && Number(announced) > MAX_MANIFEST_BYTES) {
    response.body.destroy();
    throw tooLarge(what, Number(announced));
  }
  let bytes: Buffer;
  try {
    bytes = await readBounded(response.body, MAX_MANIFEST_BYTES, (size) => tooLarge(what, size));
  } catch (error) {
    // A connection cut mid-body is a network failure like any other, reported as a KartError.
    throw isKartError(error) ? error : errorFromNetwork(error, response.url, what);
  }
  const claimed = header(response.headers, 'docker-content-digest');
  // An algorithm kart cannot compute is refused as a bad digest, not a crash in the hash library.
  if (expected?.digest !== undefined) requireVerifiableDigest(expected.digest, what, 'the requested digest');
  if (claimed !== undefined && isDigest(claimed))
    requireVerifiableDigest(claimed, what, 'Docker-Content-Digest');
  const algorithm = expected?.digest ? digestAlgorithm(expected.digest) : 'sha256';
  const digest = digestBytes(bytes, algorithm);
  if (expected?.digest && digest !== expected.digest) {
    throw mismatch(what, expected.digest, digest, 'the requested digest');
  }
  if (expected?.size !== undefined && bytes.length !== expected.size) {
    throw new KartError(
      'SIZE_MISMATCH',
      `${what}: manifest is ${bytes.length} bytes, expected ${expected.size}`,
      {
        exitCode: 1,
        hint: 'the registry returned different content than the descriptor names; nothing was kept',
      },
    );
  }
  if (claimed !== undefined && isDigest(claimed)) {
    const actual =
      digestAlgorithm(claimed) === algorithm ? digest : digestBytes(bytes, digestAlgorithm(claimed));
    if (actual !== claimed) throw mismatch(what, claimed, actual, 'Docker-Content-Digest');
  } else if (claimed !== undefined) {
    throw mismatch(what, claimed, digest, 'Docker-Content-Digest');
  }
  const contentType = (header(response.headers, 'content-type') ?? '').split(';')[0]!.trim();
  const declared = mediaTypeOf(bytes);
  // distribution-spec: a client SHOULD reject a manifest whose mediaType differs from Content-Type.
  // Only a Content-Type that names a manifest type is compared: a generic one (application/json) says
  // nothing about which kind of document this is.
  if (declared !== undefined && isManifestMediaType(contentType) && contentType !== declared) {
    throw new KartError(
      'MANIFEST_MEDIA_TYPE_MISMATCH',
      `${what}: the registry sent it as ${contentType}, but the document says it is ${declared}`,
      {
        exitCode: 1,
        hint: 'the registry or a proxy in front of it mislabels this manifest; nothing was kept',
        details: { contentType, mediaType: declared },
      },
    );
  }
  return { bytes, digest, mediaType: declared ?? contentType };
}

/** The manifest's own mediaType field, which wins over a generic Content-Type. */
function mediaTypeOf(bytes: Buffer): string | undefined {
  try {
    const value = (JSON.parse(bytes.toString('utf8')) as { mediaType?: unknown }).mediaType;
    return typeof value === 'string' && value.length > 0 ? value : undefined;
  } catch {
    return undefined;
  }
}

function tooLarge(what: string, size: number): KartError {
  return new KartError(
    'MANIFEST_TOO_LARGE',
    `${what}: manifest is ${size} bytes, over the ${MAX_MANIFEST_BYTES}-byte limit`,
    {
      exitCode: 1,
      hint: 'kart refuses manifests over 4 MiB; this is not a kernel artifact kart can use',
    },
  );
}

function mismatch(what: string, expected: string, actual: string, source: string): KartError {
  return new KartError(
    'DIGEST_MISMATCH',
    `${what}: manifest digest is ${actual}, but ${source} says ${expected}`,
    {
      exitCode: 1,
      hint: 'the registry returned content that does not match its digest; nothing was kept',
      details: { expected, actual },
    },
  );
}

/** The digest a manifest names as its subject, if it names one (bytes that are no JSON name none). */
export function subjectOf(bytes: Buffer): Digest | undefined {
  if (bytes.length === 0) return undefined;
  try {
    const digest = (JSON.parse(bytes.toString('utf8')) as { subject?: { digest?: unknown } }).subject?.digest;
    return typeof digest === 'string' ? parseDigest(digest, 'subject') : undefined;
  } catch {
    return undefined;
  }
}

/** Reads a manifest stream whole (capped) and checks it is exactly what `desc` names. */
export async function readVerifiedManifest(
  desc: Descriptor,
  content: Readable,
  what: string,
): Promise<Buffer> {
  try {
    requireVerifiableDigest(desc.digest, what, 'the descriptor');
  } catch (error) {
    content.destroy();
    throw error;
  }
  if (desc.size > MAX_MANIFEST_BYTES) {
    content.destroy();
    throw new KartError(
      'MANIFEST_TOO_LARGE',
      `${what}: ${desc.size} bytes, over the ${MAX_MANIFEST_BYTES}-byte limit`,
      { exitCode: 1 },
    );
  }
  const sizeMismatch = (size: string): KartError =>
    new KartError('SIZE_MISMATCH', `${what}: content is ${size} bytes, expected ${desc.size}`, {
      exitCode: 1,
      hint: 'the content does not match its descriptor; nothing was pushed',
    });
  const bytes = await readBounded(content, desc.size, () => sizeMismatch(`more than ${desc.size}`));
  if (bytes.length !== desc.size) throw sizeMismatch(String(bytes.length));
  const actual = digestBytes(bytes, digestAlgorithm(desc.digest));
  if (actual !== desc.digest) {
    throw new KartError('DIGEST_MISMATCH', `${what}: content digest is ${actual}, expected ${desc.digest}`, {
      exitCode: 1,
      hint: 'the content does not match its descriptor; nothing was pushed',
      details: { expected: desc.digest, actual },
    });
  }
  return bytes;
}
