import type { Readable } from 'node:stream';
import { isManifestMediaType } from '../oci/media-types.ts';
import type { Descriptor } from '../oci/schema.ts';
import type { Deleter, Mounter, TagLister, Target } from '../oci/store.ts';
import type { BlobBytesOptions } from './blob-reader.ts';
import { BlobStore, type PushObserver } from './blob-store.ts';
import type { UploadOptions } from './blob-upload.ts';
import type { RegistryHttpClient } from './http-client.ts';
import { ManifestStore } from './manifest-store.ts';
import { RepositoryEndpoint, type RepositoryAccess } from './repository-endpoint.ts';
import { listTags, sortedTags, type TagListOptions } from './tag-list.ts';

export type { PushObserver } from './blob-store.ts';
export type { RepositoryAccess } from './repository-endpoint.ts';

/**
 * A Store over one registry repository (`host/name`): the same Target the layout store is, so the one
 * graph copy pushes, pulls and copies between any two ends. As in oras-go, the repository is the
 * union of two content-addressed stores: each descriptor goes to `manifests()` or `blobs()` on its
 * media type, and every byte read is verified against its descriptor there.
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

export class RepositoryStore implements Target, TagLister, Deleter, Mounter {
  readonly name: string;
  readonly host: string;
  readonly repository: string;
  readonly client: RegistryHttpClient;
  readonly repositoryUrl: URL;
  readonly #endpoint: RepositoryEndpoint;
  readonly #blobs: BlobStore;
  readonly #manifests: ManifestStore;
  readonly #tagList: TagListOptions;

  constructor(options: RepositoryOptions) {
    const endpoint = new RepositoryEndpoint(options);
    this.#endpoint = endpoint;
    this.client = endpoint.client;
    this.host = endpoint.host;
    this.repository = endpoint.repository;
    this.name = endpoint.name;
    this.repositoryUrl = endpoint.repositoryUrl;
    this.#blobs = new BlobStore(endpoint, options.upload);
    this.#manifests = new ManifestStore(endpoint);
    this.#tagList = options.tagList ?? {};
    this.mountFrom(options.mountFrom);
  }

  /** The repository's blobs (`/blobs/`), whatever their media type. */
  blobs(): BlobStore {
    return this.#blobs;
  }

  /** The repository's manifests and indexes (`/manifests/`), by tag or digest. */
  manifests(): ManifestStore {
    return this.#manifests;
  }

  /** Called for each blob this store pushes: mounted or uploaded. */
  get onPush(): PushObserver | undefined {
    return this.#blobs.onPush;
  }
  set onPush(observer: PushObserver | undefined) {
    this.#blobs.onPush = observer;
  }

  /** Pushes of blobs this store lacks try a cross-repository mount from `repository` first. */
  mountFrom(repository: string | undefined): void {
    // A blob is never mounted from the repository it is pushed to.
    this.#endpoint.mountFrom = repository === this.repository ? undefined : repository;
  }

  /** Where a descriptor lives: manifest media types under /manifests/, everything else under /blobs/. */
  #storeFor(desc: Descriptor): BlobStore | ManifestStore {
    return isManifestMediaType(desc.mediaType) ? this.#manifests : this.#blobs;
  }

  async exists(desc: Descriptor): Promise<boolean> {
    return this.#storeFor(desc).exists(desc);
  }

  async fetch(desc: Descriptor): Promise<Readable> {
    return this.#storeFor(desc).fetch(desc);
  }

  /**
   * A blob's bytes from `options.start` on, unverified: for a reader that stitches one blob from
   * several sources (mirrors) and hashes the whole itself.
   */
  async blobBytes(desc: Descriptor, options: BlobBytesOptions = {}): Promise<AsyncGenerator<Buffer>> {
    return this.#blobs.bytes(desc, options);
  }

  /** The verified bytes of a manifest named by its descriptor. */
  async fetchManifestBytes(desc: Descriptor): Promise<Buffer> {
    return this.#manifests.fetchBytes(desc);
  }

  /**
   * Fetches a manifest by tag or digest in one GET: its bytes and the descriptor computed from them
   * (the digest is the body's hash; Docker-Content-Digest must agree).
   */
  async fetchManifest(reference: string): Promise<{ descriptor: Descriptor; bytes: Buffer }> {
    return this.#manifests.fetchReference(reference);
  }

  async resolve(reference: string): Promise<Descriptor> {
    return this.#manifests.resolve(reference);
  }

  /** resolve where a 404 HEAD is the answer: an unchanged or new tag's push costs no GET. */
  async probe(reference: string): Promise<Descriptor | undefined> {
    return this.#manifests.probe(reference);
  }

  async push(desc: Descriptor, content: Readable): Promise<void> {
    await this.#storeFor(desc).push(desc, content);
  }

  /** A blob mounted from `from` (another repository of this registry) when it holds it, else pushed. */
  async pushOrMount(desc: Descriptor, content: Readable, from: string): Promise<'mounted' | 'pushed'> {
    if (!isManifestMediaType(desc.mediaType)) return this.#blobs.pushOrMount(desc, content, from);
    await this.#manifests.push(desc, content);
    return 'pushed';
  }

  async tag(desc: Descriptor, reference: string): Promise<void> {
    await this.#manifests.tag(desc, reference);
  }

  /** Pushes manifest bytes under a tag or digest; keeps the referrers fallback when it has a subject. */
  async pushManifest(bytes: Buffer, mediaType: string, reference?: string): Promise<Descriptor> {
    return this.#manifests.pushBytes(bytes, mediaType, reference);
  }

  /** Every tag, sorted (see `sortedTags`). */
  async *tags(): AsyncIterable<string> {
    const endpoint = this.#endpoint;
    yield* await sortedTags(
      listTags(
        endpoint.client,
        endpoint.repositoryUrl,
        endpoint.repository,
        endpoint.name,
        this.#tagList,
        endpoint.readScopes(),
      ),
    );
  }

  async delete(desc: Descriptor): Promise<void> {
    await this.#storeFor(desc).delete(desc);
    // Content is one store in the registry: what was deleted under /blobs/ is no manifest to keep either.
    this.#manifests.forget(desc.digest);
  }

  /**
   * The manifests that name `subject` as their subject, optionally only those of one artifactType:
   * from the referrers API, or from the `<alg>-<hex>` fallback tag when the registry has no API.
   */
  async referrers(subject: Descriptor, artifactType?: string): Promise<Descriptor[]> {
    return this.#manifests.referrers.list(subject, artifactType);
  }
}
