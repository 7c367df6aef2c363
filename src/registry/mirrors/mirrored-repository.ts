import { Readable } from 'node:stream';
import { KartError } from '../../errors.ts';
import { createDigester, digestAlgorithm, isDigest, markVerified, type Digest } from '../../oci/digest.ts';
import { isManifestMediaType } from '../../oci/media-types.ts';
import type { Descriptor } from '../../oci/schema.ts';
import type { Target } from '../../oci/store.ts';
import type { RepositoryStore } from '../repository.ts';

/**
 * One repository read through its mirrors: a Target that pulls (graph copy, pull -k, inspect) use in
 * place of the upstream's RepositoryStore.
 *
 * - What a tag names is asked of the upstream (one HEAD). Only when the upstream cannot be reached
 *   does a mirror allowed to (`tags`) answer, and `tagResolution` says so.
 * - Manifests and blobs, named by digest, come from the first source that has them: mirrors in
 *   order, then the upstream. Every byte is verified against the digest as before, so a stale or
 *   hostile mirror can at worst be slow.
 * - A source that refuses, errors, stalls or serves wrong bytes is skipped for the rest of this pull
 *   (a 404 only means "not here"); a blob cut off mid-way carries on from the next source with a
 *   Range request. Wrong bytes already passed on cannot be taken back: the stream then fails as
 *   transient, and the caller's start-over (copy, the pull cache) asks again without that source.
 * - Pushes and tags go to the upstream only.
 */
export interface PullSource {
  store: RepositoryStore;
  role: 'mirror' | 'upstream';
  /** serves content by digest */
  digests: boolean;
  /** may say what a tag names when the upstream cannot be reached */
  tags: boolean;
}

interface OpenedBlob {
  source: PullSource;
  bytes: AsyncGenerator<Buffer>;
}

export interface SourceSkip {
  /** `host/repository` of the skipped source */
  source: string;
  code: string;
  reason: string;
}

export interface TagResolution {
  tag: string;
  /** the mirror that said what the tag names */
  source: string;
  /** why the upstream could not */
  upstreamError: string;
}

/** Upstream failures that mean "cannot be reached now", not "the answer is no". */
const UNREACHABLE = new Set([
  'HOST_UNKNOWN',
  'CONNECTION_REFUSED',
  'CONNECTION_FAILED',
  'TLS_FAILED',
  'TRANSFER_STALLED',
  'TOO_MANY_REQUESTS',
]);

export function isUnreachable(error: unknown): boolean {
  if (!(error instanceof KartError)) return false;
  return UNREACHABLE.has(error.code) || (error.code === 'REGISTRY_ERROR' && error.transient);
}

export class MirroredRepository implements Target {
  readonly name: string;
  readonly upstream: RepositoryStore;
  readonly #sources: PullSource[];
  readonly #skipped = new Map<string, SourceSkip>();
  readonly #servedBy = new Map<Digest, string>();
  readonly #onSkip: ((skip: SourceSkip) => void) | undefined;
  /** set when a mirror said what the tag names because the upstream could not be reached */
  tagResolution: TagResolution | undefined;

  constructor(sources: PullSource[], onSkip?: (skip: SourceSkip) => void) {
    const upstream = sources.find((source) => source.role === 'upstream');
    if (upstream === undefined) throw new Error('MirroredRepository: no upstream source');
    this.upstream = upstream.store;
    this.name = upstream.store.name;
    this.#sources = sources;
    this.#onSkip = onSkip;
  }

  /** The source (`host/repository`) that served this digest to this pull, if it fetched it. */
  servedBy(digest: Digest): string | undefined {
    return this.#servedBy.get(digest);
  }

  /** The sources skipped for the rest of this pull, and why. */
  skipped(): SourceSkip[] {
    return [...this.#skipped.values()];
  }

  /** Sources that may serve content by digest, in order, less the skipped ones. */
  #contentSources(): PullSource[] {
    const pinnedAt = this.tagResolution?.source;
    return this.#sources.filter(
      (source) => !this.#skipped.has(source.store.name) && (source.digests || source.store.name === pinnedAt),
    );
  }

  #setAside(source: PullSource, error: unknown): void {
    const name = source.store.name;
    // The upstream is the last resort and retries by itself: never skipped.
    if (source.role === 'upstream' || this.#skipped.has(name)) return;
    // A body that stalls reaches us as the broken-off transfer it caused: say it stalled.
    const stalled =
      (error as { cause?: { code?: unknown } } | undefined)?.cause?.code === 'UND_ERR_BODY_TIMEOUT';
    const reason = error instanceof Error ? error.message : String(error);
    const skip: SourceSkip = {
      source: name,
      code: stalled ? 'TRANSFER_STALLED' : error instanceof KartError ? error.code : 'ERROR',
      reason: stalled ? `${reason} (it stopped sending)` : reason,
    };
    this.#skipped.set(name, skip);
    this.#onSkip?.(skip);
  }

  async resolve(reference: string): Promise<Descriptor> {
    if (isDigest(reference)) {
      return this.#firstAnswer(`manifest ${this.name}@${reference}`, (store) => store.resolve(reference));
    }
    const allowed = this.#sources.filter(
      (source) => source.role === 'mirror' && source.tags && !this.#skipped.has(source.store.name),
    );
    // The first mirror allowed to answer for tags is asked too, at the same time: its answer is used
    // only if the upstream cannot be reached, but asking keeps a pull-through cache (which learns a
    // tag only when asked for it) ready to answer on the day the upstream is down. Once the upstream
    // has answered it is not waited for: a slow mirror must not delay the pull (its request ends when
    // the pull closes its sources).
    const early = allowed[0]?.store.resolve(reference).then(
      (desc) => ({ desc }),
      (error: unknown) => ({ error }),
    );
    let upstreamError: unknown;
    try {
      return await this.upstream.resolve(reference);
    } catch (error) {
      if (!isUnreachable(error)) throw error;
      upstreamError = error;
    }
    const reason = upstreamError instanceof Error ? upstreamError.message : String(upstreamError);
    if (allowed.length === 0) {
      throw new KartError(
        'UPSTREAM_UNREACHABLE',
        `cannot resolve ${this.name}:${reference}: the upstream cannot be reached (${reason}), and no mirror is allowed to say what a tag names`,
        {
          exitCode: 3,
          transient: true,
          hint: 'pull by digest (REF@sha256:…), which the mirrors can serve; or allow tag resolution at a mirror (--tag-from-mirror, or pull-from-mirror = "all" for it in registries.conf)',
          cause: upstreamError,
          details: { reference: `${this.name}:${reference}` },
        },
      );
    }
    const failures: string[] = [];
    for (const [index, source] of allowed.entries()) {
      try {
        const answer = index === 0 ? await early! : { desc: await source.store.resolve(reference) };
        if ('error' in answer) throw answer.error;
        const desc = answer.desc;
        this.tagResolution = { tag: reference, source: source.store.name, upstreamError: reason };
        return desc;
      } catch (error) {
        failures.push(`${source.store.name}: ${error instanceof Error ? error.message : String(error)}`);
        if (!(error instanceof KartError && error.code === 'NOT_FOUND')) this.#setAside(source, error);
      }
    }
    throw new KartError(
      'UPSTREAM_UNREACHABLE',
      `cannot resolve ${this.name}:${reference}: the upstream cannot be reached (${reason}) and no mirror could say what the tag names (${failures.join('; ')})`,
      { exitCode: 3, transient: true, cause: upstreamError },
    );
  }

  async exists(desc: Descriptor): Promise<boolean> {
    for (const source of this.#contentSources()) {
      try {
        if (await source.store.exists(desc)) return true;
      } catch (error) {
        this.#setAside(source, error);
      }
    }
    return false;
  }

  async fetch(desc: Descriptor): Promise<Readable> {
    if (isManifestMediaType(desc.mediaType)) {
      const bytes = await this.#firstAnswer(`manifest ${this.name}@${desc.digest}`, async (store) => {
        const bytes = await store.fetchManifestBytes(desc);
        this.#servedBy.set(desc.digest, store.name);
        return bytes;
      });
      return markVerified(Readable.from([bytes]), desc.digest);
    }
    return this.#fetchBlob(desc);
  }

  /** Asks each content source in turn; a 404 moves on, any other failure also skips the source. */
  async #firstAnswer<T>(what: string, ask: (store: RepositoryStore) => Promise<T>): Promise<T> {
    const failures: string[] = [];
    for (const source of this.#contentSources()) {
      try {
        return await ask(source.store);
      } catch (error) {
        failures.push(`${source.store.name}: ${error instanceof Error ? error.message : String(error)}`);
        if (!(error instanceof KartError && error.code === 'NOT_FOUND')) this.#setAside(source, error);
        if (source.role === 'upstream') throw error;
      }
    }
    throw this.#exhausted(what, failures);
  }

  #exhausted(what: string, failures: string[]): KartError {
    return new KartError(
      'SOURCES_EXHAUSTED',
      `${what}: no source could serve it (${failures.join('; ') || 'every source was skipped'})`,
      {
        exitCode: 3,
        hint: 'check the mirrors and the upstream registry; skipped sources stay skipped for the rest of this pull',
        details: { failures },
      },
    );
  }

  async #fetchBlob(desc: Descriptor): Promise<Readable> {
    const what = `blob ${this.name}@${desc.digest}`;
    const failures: string[] = [];
    const candidates = this.#contentSources();
    let index = 0;
    const open = async (start: number): Promise<OpenedBlob | undefined> => {
      for (; index < candidates.length; index++) {
        const source = candidates[index]!;
        if (this.#skipped.has(source.store.name)) continue;
        try {
          // A mirror that breaks off is left at once for the next source; the upstream, the last
          // resort, resumes itself as before.
          const bytes = await source.store.blobBytes(desc, {
            start,
            ...(source.role === 'mirror' ? { maxResumes: 0 } : {}),
          });
          index++;
          return { source, bytes };
        } catch (error) {
          failures.push(`${source.store.name}: ${error instanceof Error ? error.message : String(error)}`);
          if (!(error instanceof KartError && error.code === 'NOT_FOUND')) this.#setAside(source, error);
          if (source.role === 'upstream') throw error;
        }
      }
      return undefined;
    };
    // The first source is opened now, so "nobody has it" rejects here, not mid-stream.
    const first = await open(0);
    if (first === undefined) throw this.#exhausted(what, failures);
    const stitched = this.#stitch(desc, what, first, open, failures);
    return markVerified(Readable.from(stitched, { objectMode: false }), desc.digest);
  }

  /** The blob's bytes from one source after another, hashed whole here (the parts are not verified). */
  async *#stitch(
    desc: Descriptor,
    what: string,
    first: OpenedBlob,
    open: (start: number) => Promise<OpenedBlob | undefined>,
    failures: string[],
  ): AsyncGenerator<Buffer> {
    const digester = createDigester(digestAlgorithm(desc.digest));
    const contributors: PullSource[] = [];
    let received = 0;
    let current: OpenedBlob | undefined = first;
    while (current !== undefined) {
      const { source, bytes } = current;
      contributors.push(source);
      let broke: unknown;
      try {
        for await (const chunk of bytes) {
          received += chunk.length;
          if (received > desc.size) break;
          digester.update(chunk);
          yield chunk;
        }
      } catch (error) {
        broke = error;
      }
      if (received > desc.size) {
        throw this.#rejectContent(what, desc, contributors, `more than ${desc.size} bytes`);
      }
      if (received === desc.size) break;
      // Cut, stalled or refused mid-way: this source is done for this pull; the next carries on.
      if (source.role === 'upstream') {
        throw broke instanceof KartError ? broke : this.#exhausted(what, failures);
      }
      this.#setAside(source, broke ?? new Error(`ended at byte ${received} of ${desc.size}`));
      failures.push(`${source.store.name}: broke off at byte ${received}`);
      current = await open(received);
      if (current === undefined) {
        throw new KartError(
          'TRANSFER_INTERRUPTED',
          `${what}: broke off at byte ${received} and no other source can carry on (${failures.join('; ')})`,
          {
            exitCode: 3,
            transient: true,
            hint: 'retry; the mirrors and the upstream all failed for this blob',
          },
        );
      }
    }
    const actual = `${digestAlgorithm(desc.digest)}:${digester.digest('hex')}`;
    if (actual !== desc.digest) {
      throw this.#rejectContent(what, desc, contributors, `content digest ${actual}`);
    }
    this.#servedBy.set(
      desc.digest,
      [...new Set(contributors.map((source) => source.store.name))].join(' + '),
    );
  }

  /**
   * Wrong bytes were passed on. Mirrors that took part are skipped; when a source is left the failure
   * is transient (the caller starts this blob over, now without them), else it is the upstream's.
   */
  #rejectContent(what: string, desc: Descriptor, contributors: PullSource[], found: string): KartError {
    const mirrors = contributors.filter((source) => source.role === 'mirror');
    const error = new KartError(
      'DIGEST_MISMATCH',
      `${what}: ${found}, expected ${desc.digest} (${desc.size} bytes), served by ${contributors.map((s) => s.store.name).join(' + ')}`,
      {
        exitCode: 1,
        hint: 'a source holds different content under this digest; nothing was kept',
        details: { expected: desc.digest },
      },
    );
    for (const source of mirrors) this.#setAside(source, error);
    if (mirrors.length === 0) return error;
    return new KartError(
      'MIRROR_CONTENT_REJECTED',
      `${error.message}; starting over without ${mirrors.map((s) => s.store.name).join(', ')}`,
      {
        exitCode: 1,
        transient: true,
        cause: error,
      },
    );
  }

  push(desc: Descriptor, content: Readable): Promise<void> {
    return this.upstream.push(desc, content);
  }

  tag(desc: Descriptor, reference: string): Promise<void> {
    return this.upstream.tag(desc, reference);
  }
}
