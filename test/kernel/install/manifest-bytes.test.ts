/**
 * readVerifiedDocument reads a manifest or config whole and verified. A source that fails part-way (a
 * cut, a cache file found damaged) must fail the read with its own error: not an uncaught exception
 * (no one listening on the source) and not a read that never ends.
 */
import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { KartError } from '../../../src/errors.ts';
import { readVerifiedDocument } from '../../../src/kernel/install/manifest-bytes.ts';
import { descriptorOf } from '../../../src/oci/manifest-io.ts';
import { MediaType } from '../../../src/oci/media-types.ts';
import { kartErrorOf } from '../../support/kart-error.ts';

const bytes = Buffer.from('{"architecture":"amd64","os":"linux"}');
const desc = descriptorOf(bytes, MediaType.OciConfig);

function failingAfter(first: Buffer, error: Error): Readable {
  let pushed = false;
  return new Readable({
    read() {
      if (pushed) return;
      pushed = true;
      this.push(first);
      setImmediate(() => this.destroy(error));
    },
  });
}

describe('readVerifiedDocument', () => {
  it('returns the bytes when they are what the descriptor names', async () => {
    const read = await readVerifiedDocument(
      { fetch: async () => Readable.from([bytes]) },
      desc,
      'image config',
    );
    expect(read.equals(bytes)).toBe(true);
  });

  it("fails with the source's own error when the source fails part-way", async () => {
    const cut = new KartError('CACHE_CORRUPT', 'the cached file is damaged', { transient: true });
    const source = { fetch: async () => failingAfter(bytes.subarray(0, 5), cut) };
    expect(await kartErrorOf(readVerifiedDocument(source, desc, 'image config'))).toMatchObject({
      code: 'CACHE_CORRUPT',
    });
  });

  it('fails DIGEST_MISMATCH for other bytes of the same size', async () => {
    const other = Buffer.from(bytes.toString().replace('amd64', 'arm64'));
    const source = { fetch: async () => Readable.from([other]) };
    expect(await kartErrorOf(readVerifiedDocument(source, desc, 'image config'))).toMatchObject({
      code: 'DIGEST_MISMATCH',
    });
  });
});
