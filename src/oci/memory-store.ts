import { Readable } from 'node:stream';
import { KartError } from '../errors.ts';
import { VerifyingStream, isDigest } from './digest.ts';
import type { Descriptor } from './schema.ts';
import type { Deleter, TagLister, Target } from './store.ts';

/**
 * A Target held in memory: for tests and for small transient graphs. It verifies pushes like any
 * store (content that does not match its descriptor is never kept).
 */
export class MemoryStore implements Target, TagLister, Deleter {
  readonly name: string;
  readonly #blobs = new Map<string, { desc: Descriptor; bytes: Buffer }>();
  readonly #tags = new Map<string, Descriptor>();

  constructor(name = 'memory') {
    this.name = name;
  }

  async exists(desc: Descriptor): Promise<boolean> {
    return this.#blobs.has(desc.digest);
  }

  async fetch(desc: Descriptor): Promise<Readable> {
    const stored = this.#blobs.get(desc.digest);
    if (!stored) throw notFound(this.name, desc.digest);
    return Readable.from([stored.bytes]).pipe(new VerifyingStream(desc, `${this.name} blob ${desc.digest}`));
  }

  async push(desc: Descriptor, content: Readable): Promise<void> {
    if (this.#blobs.has(desc.digest)) {
      content.destroy();
      return;
    }
    const parts: Buffer[] = [];
    for await (const chunk of content.pipe(
      new VerifyingStream(desc, `blob ${desc.digest} pushed to ${this.name}`),
    )) {
      parts.push(chunk as Buffer);
    }
    this.#blobs.set(desc.digest, {
      desc: { mediaType: desc.mediaType, digest: desc.digest, size: desc.size },
      bytes: Buffer.concat(parts),
    });
  }

  async resolve(reference: string): Promise<Descriptor> {
    const tagged = this.#tags.get(reference);
    if (tagged) return tagged;
    if (isDigest(reference)) {
      const stored = this.#blobs.get(reference);
      if (stored) return stored.desc;
    }
    throw notFound(this.name, reference, [...this.#tags.keys()].sort());
  }

  async tag(desc: Descriptor, reference: string): Promise<void> {
    if (!this.#blobs.has(desc.digest)) throw notFound(this.name, desc.digest);
    this.#tags.set(reference, desc);
  }

  async *tags(): AsyncIterable<string> {
    yield* [...this.#tags.keys()].sort();
  }

  async delete(desc: Descriptor): Promise<void> {
    if (!this.#blobs.delete(desc.digest)) throw notFound(this.name, desc.digest);
    for (const [tag, tagged] of this.#tags) if (tagged.digest === desc.digest) this.#tags.delete(tag);
  }

  /** How many blobs (manifests included) are stored. */
  get size(): number {
    return this.#blobs.size;
  }
}

function notFound(name: string, reference: string, tags?: string[]): KartError {
  return new KartError('NOT_FOUND', `"${reference}" is not in ${name}`, {
    hint:
      tags === undefined
        ? undefined
        : tags.length > 0
          ? `it has the tags: ${tags.join(', ')}`
          : 'it has no tags',
    details: { reference },
  });
}
