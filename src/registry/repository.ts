import { Readable } from 'node:stream';
import { KartError, isKartError } from '../errors.ts';
import { isDigest, sha256Digest, type Digest } from '../oci/digest.ts';
import {
  isManifestMediaType,
  MANIFEST_MEDIA_TYPES,
  MAX_MANIFEST_BYTES,
  MediaType,
} from '../oci/media-types.ts';
import type { Descriptor, ImageIndex } from '../oci/schema.ts';
import type { Deleter, TagLister, Target } from '../oci/store.ts';
import { openBlobBytes, readBlob, type BlobBytesOptions } from './blob-reader.ts';
import { DEFAULT_UPLOAD_OPTIONS, uploadBlob, type UploadOptions } from './blob-upload.ts';
import { registryBaseUrl } from './endpoint.ts';
import {
  discard,
  failure,
  header,
  readBoundedText,
  type RegistryHttpClient,
  type RegistryRequest,
} from './http-client.ts';
import { readManifestBody, readVerifiedManifest, subjectOf } from './manifest-reader.ts';
import { nextPage } from './tag-list.ts';
import { listTags, sortedTags, type TagListOptions } from './tag-list.ts';
import {
  emptyReferrersIndex,
  parseReferrersIndex,
  referrerDescriptor,
  referrersTag,
  withoutReferrer,
  withReferrer,
} from './referrers.ts';

/**
 * A Store over one registry repository (`host/name`): the same Target the layout store is, so the one
 * graph copy pushes, pulls and copies between any two ends. Blobs and manifests are routed on the
 * descriptor's media type; every byte read is verified against its descriptor.
 */
export interface RepositoryOptions {
  client: RegistryHttpClient;
  /** `host[:port]` as written in the reference (docker.io already mapped by the parser) */
  host: string;
  repository: string;
  plainHttp?: boolean;
  upload?: Partial<UploadOptions>;
  /** Another repository on the same registry holding the same blobs: pushes mount from it. */
  mountFrom?: string;
  tagList?: TagListOptions;
  /**
   * What the store is opened for. `push` (a destination) asks for `pull,push` (plus `pull` on the
   * mount source) on every request, reads included, so one token serves the whole push, as oras-go
   * does with its scope hints; `pull` (the default) asks for `pull` until something is written.
   */
  access?: RepositoryAccess;
}

export type RepositoryAccess = 'pull' | 'push';

/** Called for each blob push: mounted (no bytes sent) or uploaded. Used by progress and tests. */
export type PushObserver = (desc: Descriptor, how: 'mounted' | 'uploaded') => void;

export class RepositoryStore implements Target, TagLister, Deleter {
  readonly name: string;
  readonly host: string;
  readonly repository: string;
  readonly client: RegistryHttpClient;
  readonly repositoryUrl: URL;
  readonly #upload: UploadOptions;
  readonly #tagList: TagListOptions;
  #mountFrom: string | undefined;
  readonly #access: RepositoryAccess;
  onPush: PushObserver | undefined;
  /** Manifests this store pushed or fetched lately, so `tag()` need not download them again. */
  readonly #manifests = new Map<Digest, Buffer>();
  /** The registry redirected a streamed upload once: send blobs in chunks (see push). */
  #redirectsUploads = false;
  /** Serialises updates of referrers fallback indexes within this process. */
  #referrersUpdate: Promise<unknown> = Promise.resolve();

  constructor(options: RepositoryOptions) {
    this.client = options.client;
    this.host = options.host;
    this.repository = options.repository;
    this.name = `${options.host}/${options.repository}`;
    this.repositoryUrl = new URL(
      `v2/${options.repository}/`,
      registryBaseUrl(options.host, { plainHttp: options.plainHttp }),
    );
    this.#upload = { ...DEFAULT_UPLOAD_OPTIONS, ...options.upload };
    this.#tagList = options.tagList ?? {};
    this.mountFrom(options.mountFrom);
    this.#access = options.access ?? 'pull';
  }

  /** Pushes of blobs this store lacks try a cross-repository mount from `repository` first. */
  mountFrom(repository: string | undefined): void {
    // A blob is never mounted from the repository it is pushed to.
    this.#mountFrom = repository === this.repository ? undefined : repository;
  }

  /** The scopes of a read: `pull`, or the push scopes when the store was opened for pushing. */
  #readScopes(): string[] {
    return this.#access === 'push' ? this.#writeScopes() : [`repository:${this.repository}:pull`];
  }
  /** The scopes of a write: `pull,push` here, and `pull` on the repository blobs are mounted from. */
  #writeScopes(mountFrom = this.#mountFrom): string[] {
    const scopes = [`repository:${this.repository}:pull,push`];
    if (mountFrom !== undefined) {
      scopes.push(`repository:${mountFrom}:pull`);
    }
    return scopes;
  }
  #url(kind: 'blobs' | 'manifests', reference: string): URL {
    return new URL(`${kind}/${reference}`, this.repositoryUrl);
  }

  async exists(desc: Descriptor): Promise<boolean> {
    const kind = isManifestMediaType(desc.mediaType) ? 'manifests' : 'blobs';
    const answer = await this.client.request({
      method: 'HEAD',
      url: this.#url(kind, desc.digest),
      scopes: this.#readScopes(),
      headers: kind === 'manifests' ? { accept: MANIFEST_MEDIA_TYPES.join(', ') } : {},
      what: `${kind === 'blobs' ? 'blob' : 'manifest'} ${desc.digest} in ${this.name}`,
    });
    await discard(answer.body);
    if (answer.status === 200) return true;
    if (answer.status === 404) return false;
    throw await failure(answer, `${kind} ${desc.digest} in ${this.name}`);
  }

  async fetch(desc: Descriptor): Promise<Readable> {
    if (isManifestMediaType(desc.mediaType)) {
      return Readable.from([await this.fetchManifestBytes(desc)]);
    }
    return readBlob(this.client, this.#blobRequest(desc), desc);
  }

  /**
   * A blob's bytes from `options.start` on, unverified: for a reader that stitches one blob from
   * several sources (mirrors) and hashes the whole itself.
   */
  async blobBytes(desc: Descriptor, options: BlobBytesOptions = {}): Promise<AsyncGenerator<Buffer>> {
    return openBlobBytes(this.client, this.#blobRequest(desc), desc, options);
  }

  #blobRequest(desc: Descriptor): RegistryRequest {
    return {
      method: 'GET',
      url: this.#url('blobs', desc.digest),
      scopes: this.#readScopes(),
      what: `blob ${desc.digest} in ${this.name}`,
    };
  }

  /** The verified bytes of a manifest named by its descriptor. */
  async fetchManifestBytes(desc: Descriptor): Promise<Buffer> {
    const cached = this.#manifests.get(desc.digest);
    if (cached && cached.length === desc.size) return cached;
    const what = `manifest ${this.name}@${desc.digest}`;
    const answer = await this.client.request({
      method: 'GET',
      url: this.#url('manifests', desc.digest),
      scopes: this.#readScopes(),
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
  async fetchManifest(reference: string): Promise<{ descriptor: Descriptor; bytes: Buffer }> {
    const what = `manifest ${this.#display(reference)}`;
    const answer = await this.client.request({
      method: 'GET',
      url: this.#url('manifests', reference),
      scopes: this.#readScopes(),
      headers: { accept: MANIFEST_MEDIA_TYPES.join(', ') },
      what,
    });
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
    const what = `manifest ${this.#display(reference)}`;
    const answer = await this.client.request({
      method: 'HEAD',
      url: this.#url('manifests', reference),
      scopes: this.#readScopes(),
      headers: { accept: MANIFEST_MEDIA_TYPES.join(', ') },
      what,
    });
    await discard(answer.body);
    if (answer.status === 404 && absentOk) return undefined;
    // HEAD answers carry no error document: a GET gets the registry's own words for the failure.
    if (answer.status !== 200) return (await this.fetchManifest(reference)).descriptor;
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
    return (await this.fetchManifest(reference)).descriptor;
  }

  async push(desc: Descriptor, content: Readable): Promise<void> {
    await this.#push(desc, content, this.#mountFrom);
  }

  /** A blob mounted from `from` (another repository of this registry) when it holds it, else pushed. */
  async pushOrMount(desc: Descriptor, content: Readable, from: string): Promise<'mounted' | 'pushed'> {
    return this.#push(desc, content, from === this.repository ? undefined : from);
  }

  async #push(
    desc: Descriptor,
    content: Readable,
    mountFrom: string | undefined,
  ): Promise<'mounted' | 'pushed'> {
    if (isManifestMediaType(desc.mediaType)) {
      await this.#pushManifest(
        desc,
        await readVerifiedManifest(desc, content, `manifest ${desc.digest} for ${this.name}`),
        desc.digest,
      );
      return 'pushed';
    }
    const target = {
      client: this.client,
      repositoryUrl: this.repositoryUrl,
      name: this.name,
      scopes: this.#writeScopes(mountFrom),
    };
    // A registry that redirected a streamed PUT gets chunks from then on: each PATCH (and the empty
    // closing PUT) is a buffer the client can send again to where it is redirected.
    const options = this.#redirectsUploads ? { ...this.#upload, chunkThreshold: 0 } : this.#upload;
    let result;
    try {
      result = await uploadBlob(target, desc, content, options, mountFrom);
    } catch (error) {
      if (!(isKartError(error) && error.code === 'REDIRECT_REFUSED' && error.details?.bodySent === true)) {
        throw error;
      }
      this.#redirectsUploads = true;
      throw new KartError(
        'UPLOAD_REDIRECTED',
        `blob ${desc.digest} to ${this.name}: the registry redirected the upload after its body was sent`,
        {
          exitCode: 3,
          // Started over from its source (copy does), the blob goes in chunks, which can follow.
          transient: true,
          hint: 'trying again sends it in chunks',
          cause: error,
        },
      );
    }
    this.onPush?.(desc, result.mounted ? 'mounted' : 'uploaded');
    return result.mounted ? 'mounted' : 'pushed';
  }

  async tag(desc: Descriptor, reference: string): Promise<void> {
    const bytes = await this.fetchManifestBytes(desc);
    await this.#pushManifest(desc, bytes, reference);
  }

  /** Pushes manifest bytes under a tag or digest; keeps the referrers fallback when it has a subject. */
  async pushManifest(bytes: Buffer, mediaType: string, reference?: string): Promise<Descriptor> {
    const desc: Descriptor = { mediaType, digest: sha256Digest(bytes), size: bytes.length };
    await this.#pushManifest(desc, bytes, reference ?? desc.digest);
    return desc;
  }

  async #pushManifest(desc: Descriptor, bytes: Buffer, reference: string): Promise<void> {
    const what = `manifest ${this.#display(reference)}`;
    const answer = await this.client.request({
      method: 'PUT',
      url: this.#url('manifests', reference),
      scopes: this.#writeScopes(),
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
    if (subject && header(answer.headers, 'oci-subject') === undefined) {
      await this.#updateReferrersFallback(subject, (index) =>
        withReferrer(index, referrerDescriptor(desc, bytes)),
      );
    }
  }

  /** Every tag, sorted (see `sortedTags`). */
  async *tags(): AsyncIterable<string> {
    yield* await sortedTags(
      listTags(
        this.client,
        this.repositoryUrl,
        this.repository,
        this.name,
        this.#tagList,
        this.#readScopes(),
      ),
    );
  }

  async delete(desc: Descriptor): Promise<void> {
    const manifest = isManifestMediaType(desc.mediaType);
    const subject = manifest
      ? subjectOf(await this.fetchManifestBytes(desc).catch(() => Buffer.alloc(0)))
      : undefined;
    const what = `${manifest ? 'manifest' : 'blob'} ${this.name}@${desc.digest}`;
    const answer = await this.client.request({
      method: 'DELETE',
      url: this.#url(manifest ? 'manifests' : 'blobs', desc.digest),
      scopes: [`repository:${this.repository}:delete`],
      what,
    });
    if (answer.status !== 202 && answer.status !== 200 && answer.status !== 204)
      throw await failure(answer, what);
    await discard(answer.body);
    this.#manifests.delete(desc.digest);
    if (subject && !(await this.#hasReferrersApi(subject))) {
      await this.#updateReferrersFallback(subject, (index) => withoutReferrer(index, desc.digest));
    }
  }

  /**
   * The manifests that name `subject` as their subject, optionally only those of one artifactType:
   * from the referrers API, or from the `<alg>-<hex>` fallback tag when the registry has no API.
   */
  async referrers(subject: Descriptor, artifactType?: string): Promise<Descriptor[]> {
    const what = `referrers of ${this.name}@${subject.digest}`;
    let url: URL | undefined = new URL(`referrers/${subject.digest}`, this.repositoryUrl);
    if (artifactType) url.searchParams.set('artifactType', artifactType);
    const found: Descriptor[] = [];
    let filtered = false;
    for (let page = 0; url; page++) {
      if (page >= 100)
        throw new KartError('REFERRERS_TOO_LONG', `${what}: more than 100 pages`, { exitCode: 3 });
      const answer = await this.client.request({ method: 'GET', url, scopes: this.#readScopes(), what });
      if (answer.status === 404 && page === 0) {
        await discard(answer.body);
        return filterType(await this.#fallbackReferrers(subject.digest), artifactType);
      }
      if (answer.status !== 200) throw await failure(answer, what);
      filtered ||= (header(answer.headers, 'oci-filters-applied') ?? '')
        .split(',')
        .map((s) => s.trim())
        .includes('artifactType');
      const link = header(answer.headers, 'link');
      found.push(
        ...parseReferrersIndex(await readBoundedText(answer.body, MAX_MANIFEST_BYTES, what), what).manifests,
      );
      url = nextPage(link, answer.url, what);
    }
    return filtered ? found : filterType(found, artifactType);
  }

  async #hasReferrersApi(subject: Digest): Promise<boolean> {
    const answer = await this.client.request({
      method: 'GET',
      url: new URL(`referrers/${subject}`, this.repositoryUrl),
      scopes: this.#readScopes(),
      what: `referrers of ${this.name}@${subject}`,
    });
    await discard(answer.body);
    return answer.status === 200;
  }

  async #fallbackIndex(subject: Digest): Promise<ImageIndex> {
    const tag = referrersTag(subject);
    const what = `referrers tag ${this.name}:${tag}`;
    const answer = await this.client.request({
      method: 'GET',
      url: this.#url('manifests', tag),
      scopes: this.#readScopes(),
      headers: { accept: MediaType.OciIndex },
      what,
    });
    if (answer.status === 404) {
      await discard(answer.body);
      return emptyReferrersIndex();
    }
    if (answer.status !== 200) throw await failure(answer, what);
    const body = await readManifestBody(answer, what);
    return parseReferrersIndex(body.bytes, what);
  }

  async #fallbackReferrers(subject: Digest): Promise<Descriptor[]> {
    return (await this.#fallbackIndex(subject)).manifests;
  }

  #updateReferrersFallback(subject: Digest, change: (index: ImageIndex) => ImageIndex): Promise<void> {
    const run = this.#referrersUpdate.then(async () => {
      const index = change(await this.#fallbackIndex(subject));
      const bytes = Buffer.from(JSON.stringify({ ...index, mediaType: MediaType.OciIndex }));
      await this.#pushManifest(
        { mediaType: MediaType.OciIndex, digest: sha256Digest(bytes), size: bytes.length },
        bytes,
        referrersTag(subject),
      );
    });
    this.#referrersUpdate = run.catch(() => {});
    return run;
  }

  #remember(digest: Digest, bytes: Buffer): void {
    if (this.#manifests.size > 256) this.#manifests.clear();
    this.#manifests.set(digest, bytes);
  }

  #display(reference: string): string {
    return isDigest(reference) ? `${this.name}@${reference}` : `${this.name}:${reference}`;
  }
}

function acceptFor(mediaType: string): string {
  return [mediaType, ...MANIFEST_MEDIA_TYPES.filter((m) => m !== mediaType)].join(', ');
}

function filterType(descs: Descriptor[], artifactType: string | undefined): Descriptor[] {
  return artifactType ? descs.filter((d) => d.artifactType === artifactType) : descs;
}
