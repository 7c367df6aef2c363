import { pipeline } from 'node:stream';
import type { Descriptor } from '../../oci/schema.ts';
import type { Fetcher } from '../../oci/store.ts';
import { KartError } from '../../errors.ts';
import { VerifyingStream } from '../../oci/digest.ts';
import { MAX_MANIFEST_BYTES } from '../../oci/media-types.ts';

/**
 * Reads a small document (manifest, index, image config) whole, verified against its descriptor.
 * The store verifies too; verifying here as well means the install core never trusts a store.
 */
export async function readVerifiedDocument(source: Fetcher, desc: Descriptor, what: string): Promise<Buffer> {
  refuseOversizedDocument(desc, what);
  const fetched = await source.fetch(desc);
  const verifier = new VerifyingStream({ digest: desc.digest, size: desc.size }, `${what} ${desc.digest}`);
  // pipeline, not pipe: the source's own failure (a cut, a damaged cache file) must reach the reader
  // below, or it would be an uncaught error or a read that never ends.
  pipeline(fetched, verifier, () => undefined);
  const chunks: Buffer[] = [];
  for await (const chunk of verifier as AsyncIterable<Buffer>) chunks.push(chunk);
  return Buffer.concat(chunks);
}

/** A manifest or image config whose descriptor claims more than any real one: refused before download. */
export function refuseOversizedDocument(desc: Descriptor, what: string): void {
  if (desc.size > MAX_MANIFEST_BYTES) {
    throw new KartError(
      'MANIFEST_TOO_LARGE',
      `${what} ${desc.digest} is ${desc.size} bytes, larger than any real one`,
      {
        exitCode: 1,
        hint: `manifests and image configs are at most ${MAX_MANIFEST_BYTES} bytes`,
      },
    );
  }
}
