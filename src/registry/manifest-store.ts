import { Readable } from 'node:stream';
import { KartError } from '../errors.ts';
import { isDigest, sha256Digest, type Digest } from '../oci/digest.ts';
import { isManifestMediaType, MANIFEST_MEDIA_TYPES } from '../oci/media-types.ts';
import type { Descriptor } from '../oci/schema.ts';
import type { Deleter, Storage, TagResolver } from '../oci/store.ts';
import { discard, failure, header, type RegistryResponse } from './http-client.ts';
import { readManifestBody, readVerifiedManifest, subjectOf } from './manifest-reader.ts';
import { referrerDescriptor, withoutReferrer, withReferrer } from './referrers.ts';
import type { RepositoryEndpoint } from './repository-endpoint.ts';
import { RepositoryReferrers } from './repository-referrers.ts';

/**
 * The manifests of one repository (`/v2/<name>/manifests/`), by tag or digest: GET and HEAD with
 * the Accept list of manifest media types, verified bodies (manifest-reader.ts), PUT with the
 * manifest's Content-Type, tags, DELETE. A manifest with a subject keeps the referrers fallback index
 * current when the registry shows no referrers API. Manifests pushed or fetched lately are kept, so
 * tagging one does not download it again.
 */
export class ManifestStore implements Storage, TagResolver, Deleter {
  readonly #endpoint: RepositoryEndpoint;
  readonly referrers: RepositoryReferrers;
  readonly #recent = new Map<Digest, Buffer>();

  constructor(endpoint: RepositoryEndpoint) {
    this.#endpoint = endpoint;
    this.referrers = new RepositoryReferrers(endpoint, (desc, bytes, tag) => this.#put(desc, bytes, tag));
  }

  async exists(desc: Descriptor): Promise<boolean> {
    return this.#endpoint.exists('manifests', desc, { accept: MANIFEST_MEDIA_TYPES.join(', ') });
  }

  async fetch(desc: Descriptor): Promise<Readable> {
    return Readable.from([await this.fetchBytes(desc)]);
  }

  /** The verified bytes of a manifest named by its descriptor. */
  async fetchBytes(desc: Descriptor): Promise<Buffer> {
    const cached = this.#recent.get(desc.digest);
    if (cached && cached.length === desc.size) return cached;
    const endpoint = this.#endpoint;
    const what = `manifest ${endpoint.name}@${desc.digest}`;
    const answer = await endpoint.client.request({
      method: 'GET',
      url: endpoint.url('manifests', desc.digest),
      scopes: endpoint.readScopes(),
      headers: { accept: acceptFor(desc.mediaType) },
      what,
    });
    if (answer.status !== 200) throw await failure(answer, what);
    const body = await readManifestBody(answer, what, { digest: desc.digest, size: desc.size });
    this.#remember(desc.digest, body.bytes);
    return body.bytes;
  }

  /**
   * Fetches a manifest by tag or digest in one GET: its bytes and the descriptor computed from them
   * (the digest is the body's hash; Docker-Content-Digest must agree).
   */
  async fetchReference(reference: string): Promise<{ descriptor: Descriptor; bytes: Buffer }> {
    const what = `manifest ${this.#endpoint.display(reference)}`;
    const answer = await this.#ask('GET', reference, what);
    if (answer.status !== 200) throw await failure(answer, what);
    const expected = isDigest(reference) ? { digest: reference } : undefined;
    const body = await readManifestBody(answer, what, expected);
    this.#remember(body.digest, body.bytes);
    return {
      descriptor: { mediaType: body.mediaType, digest: body.digest, size: body.bytes.length },
      bytes: body.bytes,
    };
  }

  async resolve(reference: string): Promise<Descriptor> {
    return this.#resolve(reference, false) as Promise<Descriptor>;
  }

  /** resolve where a 404 HEAD is the answer: an unchanged or new tag's push costs no GET. */
  async probe(reference: string): Promise<Descriptor | undefined> {
    return this.#resolve(reference, true);
  }

  async #resolve(reference: string, absentOk: boolean): Promise<Descriptor | undefined> {
    const what = `manifest ${this.#endpoint.display(reference)}`;
    const answer = await this.#ask('HEAD', reference, what);
    await discard(answer.body);
    if (answer.status === 404 && absentOk) return undefined;
    // HEAD answers carry no error document: a GET gets the registry's own words for the failure.
    if (answer.status !== 200) return (await this.fetchReference(reference)).descriptor;
    const claimed = header(answer.headers, 'docker-content-digest');
    const length = header(answer.headers, 'content-length');
    const contentType = header(answer.headers, 'content-type')?.split(';')[0]?.trim();
    // HEAD is enough when it says everything (it does not count against Docker Hub's pull limit);
    // what it claims is checked when the manifest is fetched by that digest.
    if (
      claimed &&
      isDigest(claimed) &&
      length &&
      /^\d+$/.test(length) &&
      contentType &&
      isManifestMediaType(contentType)
    ) {
      if (isDigest(reference) && claimed !== reference) {
        throw new KartError('DIGEST_MISMATCH', `${what}: the registry answers for ${claimed}`, {
          exitCode: 1,
        });
      }
      return { mediaType: contentType, digest: claimed, size: Number(length) };
    }
    return (await this.fetchReference(reference)).descriptor;
  }

  /** A GET or HEAD by tag or digest, accepting every manifest media type kart reads. */
  #ask(method: 'GET' | 'HEAD', reference: string, what: string): Promise<RegistryResponse> {
    return this.#endpoint.client.request({
      method,
      url: this.#endpoint.url('manifests', reference),
      scopes: this.#endpoint.readScopes(),
      headers: { accept: MANIFEST_MEDIA_TYPES.join(', ') },
      what,
    });
  }

  /** Pushes a manifest under its digest once its bytes are checked against `desc`. */
  async push(desc: Descriptor, content: Readable): Promise<void> {
    const bytes = await readVerifiedManifest(
      desc,
      content,
      `manifest ${desc.digest} for ${this.#endpoint.name}`,
    );
    await this.#put(desc, bytes, desc.digest);
  }

  async tag(desc: Descriptor, reference: string): Promise<void> {
    await this.#put(desc, await this.fetchBytes(desc), reference);
  }

  /** Pushes manifest bytes under a tag or digest; keeps the referrers fallback when it has a subject. */
  async pushBytes(bytes: Buffer, mediaType: string, reference?: string): Promise<Descriptor> {
    const desc: Descriptor = { mediaType, digest: sha256Digest(bytes), size: bytes.length };
    await this.#put(desc, bytes, reference ?? desc.digest);
    return desc;
  }

  async #put(desc: Descriptor, bytes: Buffer, reference: string): Promise<void> {
    const endpoint = this.#endpoint;
    const what = `manifest ${endpoint.display(reference)}`;
    const answer = await endpoint.client.request({
      method: 'PUT',
      url: endpoint.url('manifests', reference),
      scopes: endpoint.writeScopes(),
      headers: { 'content-type': desc.mediaType },
      body: bytes,
      what,
    });
    if (answer.status !== 201) throw await failure(answer, what);
    await discard(answer.body);
    const claimed = header(answer.headers, 'docker-content-digest');
    if (claimed !== undefined && claimed !== desc.digest) {
      throw new KartError(
        'DIGEST_MISMATCH',
        `${what}: the registry stored it as ${claimed}, kart sent ${desc.digest}`,
        {
          exitCode: 1,
          hint: 'the registry rewrote the manifest; it does not store manifests byte for byte',
        },
      );
    }
    this.#remember(desc.digest, bytes);
    const subject = subjectOf(bytes);
    // A registry with the referrers API says so with OCI-Subject; otherwise the fallback index is ours.
    if (subject && header(answer.headers, 'oci-subject') === undefined) {
      await this.referrers.updateFallback(subject, (index) =>
        withReferrer(index, referrerDescriptor(desc, bytes)),
      );
    }
  }

  /** Deletes a manifest; one with a subject leaves the fallback index when the registry has no API. */
  async delete(desc: Descriptor): Promise<void> {
    const subject = subjectOf(await this.fetchBytes(desc).catch(() => Buffer.alloc(0)));
    await this.#endpoint.delete('manifests', desc);
    this.forget(desc.digest);
    if (subject && !(await this.referrers.hasApi(subject))) {
      await this.referrers.updateFallback(subject, (index) => withoutReferrer(index, desc.digest));
    }
  }

  /** Drops a cached manifest (its digest was deleted from the registry). */
  forget(digest: Digest): void {
    this.#recent.delete(digest);
  }

  #remember(digest: Digest, bytes: Buffer): void {
    if (this.#recent.size > 256) this.#recent.clear();
    this.#recent.set(digest, bytes);
  }
}

/** The descriptor's own media type first, then every other manifest type kart reads. */
function acceptFor(mediaType: string): string {
  return [mediaType, ...MANIFEST_MEDIA_TYPES.filter((m) => m !== mediaType)].join(', ');
}
