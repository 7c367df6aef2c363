import { createHash, type Hash } from 'node:crypto';
import { Transform, type TransformCallback } from 'node:stream';
import { streamMark } from './stream-mark.ts';
import { KartError } from '../errors.ts';
import { countHashedBytes, type HashPurpose } from './hashed-bytes.ts';

/** `algorithm:encoded`, e.g. `sha256:<64 lowercase hex>`. */
export type Digest = `${string}:${string}`;

// image-spec descriptor.md: algorithm components [a-z0-9]+ joined by [+._-]; encoded [a-zA-Z0-9=_-]+.
const DIGEST_GRAMMAR = /^[a-z0-9]+(?:[+._-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$/;
const KNOWN_ENCODINGS: Record<string, RegExp> = {
  sha256: /^[a-f0-9]{64}$/,
  sha512: /^[a-f0-9]{128}$/,
};

export function isDigest(value: string): value is Digest {
  if (!DIGEST_GRAMMAR.test(value)) return false;
  const colon = value.indexOf(':');
  const known = KNOWN_ENCODINGS[value.slice(0, colon)];
  return known === undefined || known.test(value.slice(colon + 1));
}

/** Parses a digest string or throws DIGEST_INVALID naming where it came from. */
export function parseDigest(value: string, where = 'digest'): Digest {
  if (!isDigest(value)) {
    throw new KartError('DIGEST_INVALID', `${where}: "${value}" is not a valid digest`, {
      hint: 'a digest looks like sha256:<64 lowercase hex characters>',
    });
  }
  return value;
}

export function digestAlgorithm(digest: Digest): string {
  return digest.slice(0, digest.indexOf(':'));
}
export function digestHex(digest: Digest): string {
  return digest.slice(digest.indexOf(':') + 1);
}

export function sha256Digest(data: Uint8Array | string): Digest {
  return digestBytes(data);
}

/** The algorithms kart can verify; a digest naming another is well-formed but cannot be checked. */
const VERIFIABLE_ALGORITHMS = new Set(['sha256', 'sha512']);

export function isVerifiableDigest(digest: Digest): boolean {
  return VERIFIABLE_ALGORITHMS.has(digestAlgorithm(digest));
}

/**
 * Refuses a digest kart cannot verify (`foo:...`, `md5:...`) as DIGEST_INVALID before anything is
 * hashed with it: `where` says who named it (a registry header, a descriptor). Exit 3: such digests
 * come from what a registry answered.
 */
export function requireVerifiableDigest(digest: Digest, what: string, where: string): void {
  if (isVerifiableDigest(digest)) return;
  throw new KartError('DIGEST_INVALID', `${what}: ${where} ${digest} uses an unknown digest algorithm`, {
    exitCode: 3,
    hint: 'kart verifies sha256 and sha512 digests; the registry answered with another algorithm',
  });
}

/** The digest of bytes in memory with `algorithm` (sha256 unless a descriptor names another). */
export function digestBytes(bytes: Uint8Array | string, algorithm = 'sha256'): Digest {
  return `${algorithm}:${createDigester(algorithm).update(bytes).digest('hex')}`;
}

/**
 * Creates the hasher for a digest's algorithm; only registered algorithms node can compute. `purpose`
 * only labels what the bench's counter (hashed-bytes.ts) adds the bytes to.
 */
export function createDigester(algorithm = 'sha256', purpose: HashPurpose = 'verified'): Hash {
  if (!VERIFIABLE_ALGORITHMS.has(algorithm)) {
    throw new KartError('DIGEST_UNSUPPORTED', `digest algorithm "${algorithm}" is not supported`, {
      hint: 'kart verifies sha256 and sha512 digests',
    });
  }
  return countHashedBytes(createHash(algorithm), purpose);
}

/**
 * A pass-through stream that hashes what flows and counts it. `digest()` is valid after 'end'.
 * Used wherever bytes move so that they are hashed exactly once, as they stream.
 */
export class DigestingStream extends Transform {
  readonly #hash: Hash;
  readonly #algorithm: string;
  bytes = 0;
  #final: Digest | undefined;

  constructor(algorithm = 'sha256') {
    super();
    this.#algorithm = algorithm;
    this.#hash = createDigester(algorithm, 'content');
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    this.#hash.update(chunk);
    this.bytes += chunk.length;
    done(null, chunk);
  }

  override _flush(done: TransformCallback): void {
    this.#final = `${this.#algorithm}:${this.#hash.digest('hex')}`;
    done();
  }

  digest(): Digest {
    if (this.#final === undefined) throw new Error('DigestingStream.digest() called before the stream ended');
    return this.#final;
  }
}

export interface Expected {
  digest: Digest;
  size: number;
}

/**
 * Checks content against its descriptor chunk by chunk, for a consumer that holds the chunks itself
 * (a file writer, a stream): `update` throws SIZE_MISMATCH as soon as more than `expected.size` bytes
 * came (so a lying server cannot make us read forever), `end` throws SIZE_MISMATCH or DIGEST_MISMATCH
 * when the whole is short or differs.
 */
export class ContentVerifier {
  readonly #hash: Hash;
  readonly #expected: Expected;
  readonly #what: string;
  bytes = 0;

  constructor(expected: Expected, what: string = expected.digest) {
    this.#expected = expected;
    this.#what = what;
    this.#hash = createDigester(digestAlgorithm(expected.digest));
  }

  update(chunk: Buffer): void {
    this.bytes += chunk.length;
    if (this.bytes > this.#expected.size) {
      throw sizeMismatch(this.#what, this.#expected.size, `more than ${this.#expected.size}`);
    }
    this.#hash.update(chunk);
  }

  end(): void {
    if (this.bytes !== this.#expected.size) {
      throw sizeMismatch(this.#what, this.#expected.size, String(this.bytes));
    }
    const actual = `${digestAlgorithm(this.#expected.digest)}:${this.#hash.digest('hex')}`;
    if (actual !== this.#expected.digest) {
      throw new KartError(
        'DIGEST_MISMATCH',
        `${this.#what}: content digest is ${actual}, expected ${this.#expected.digest}`,
        {
          exitCode: 1,
          hint: 'the content was corrupted or tampered with in transit or at rest; nothing was kept',
          details: { expected: this.#expected.digest, actual },
        },
      );
    }
  }
}

/**
 * A pass-through stream that fails unless exactly `expected.size` bytes with `expected.digest` flow
 * through (a ContentVerifier as a stream). Content is passed on as it arrives; whoever persists it
 * must only commit after this stream ended without error.
 */
export class VerifyingStream extends Transform {
  readonly #verifier: ContentVerifier;

  constructor(expected: Expected, what: string = expected.digest) {
    super();
    this.#verifier = new ContentVerifier(expected, what);
  }

  get bytes(): number {
    return this.#verifier.bytes;
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    try {
      this.#verifier.update(chunk);
    } catch (error) {
      done(error as Error);
      return;
    }
    done(null, chunk);
  }

  override _flush(done: TransformCallback): void {
    try {
      this.#verifier.end();
    } catch (error) {
      done(error as Error);
      return;
    }
    done();
  }
}

function sizeMismatch(what: string, expected: number, actual: string): KartError {
  return new KartError('SIZE_MISMATCH', `${what}: content is ${actual} bytes, expected ${expected}`, {
    exitCode: 1,
    hint: 'the content does not match its descriptor; nothing was kept',
    details: { expected, actual },
  });
}

/**
 * A stream whose producer verifies its bytes against a digest as they flow (and errors instead of
 * ending when they differ) carries that digest, so a consumer that would verify the same bytes again
 * (an upload from a layout) can skip the second hash of every byte. `carryVerifiedMark(source, next)`
 * is `next` with `source`'s mark (see stream-mark.ts for which wrappers may carry it).
 */
const VERIFIED = streamMark<string>('kart.verifiedDigest');
export const markVerified = VERIFIED.mark;
export const verifiedDigestOf = VERIFIED.of;
export const carryVerifiedMark = VERIFIED.carry;
