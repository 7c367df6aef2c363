import type { Readable } from 'node:stream';
import { KartError, isKartError } from '../errors.ts';
import type { Descriptor } from '../oci/schema.ts';
import type { Deleter, Storage } from '../oci/store.ts';
import { openBlobBytes, readBlob, type BlobBytesOptions } from './blob-reader.ts';
import { DEFAULT_UPLOAD_OPTIONS, uploadBlob, type UploadOptions } from './blob-upload.ts';
import type { RegistryRequest } from './http-client.ts';
import type { RepositoryEndpoint } from './repository-endpoint.ts';

/** Called for each blob push: mounted (no bytes sent) or uploaded. Used by progress and tests. */
export type PushObserver = (desc: Descriptor, how: 'mounted' | 'uploaded') => void;

/**
 * The blobs of one repository (`/v2/<name>/blobs/`), addressed by digest: HEAD, verified GET with
 * Range resume (blob-reader.ts), cross-repository mount or upload (blob-upload.ts), DELETE.
 */
export class BlobStore implements Storage, Deleter {
  readonly #endpoint: RepositoryEndpoint;
  readonly #upload: UploadOptions;
  onPush: PushObserver | undefined;
  /** The registry redirected a streamed upload once: send blobs in chunks (see push). */
  #redirectsUploads = false;

  constructor(endpoint: RepositoryEndpoint, upload: Partial<UploadOptions> = {}) {
    this.#endpoint = endpoint;
    this.#upload = { ...DEFAULT_UPLOAD_OPTIONS, ...upload };
  }

  async exists(desc: Descriptor): Promise<boolean> {
    return this.#endpoint.exists('blobs', desc);
  }

  async fetch(desc: Descriptor): Promise<Readable> {
    return readBlob(this.#endpoint.client, this.#request(desc), desc);
  }

  /**
   * A blob's bytes from `options.start` on, unverified: for a reader that stitches one blob from
   * several sources (mirrors) and hashes the whole itself.
   */
  async bytes(desc: Descriptor, options: BlobBytesOptions = {}): Promise<AsyncGenerator<Buffer>> {
    return openBlobBytes(this.#endpoint.client, this.#request(desc), desc, options);
  }

  #request(desc: Descriptor): RegistryRequest {
    return {
      method: 'GET',
      url: this.#endpoint.url('blobs', desc.digest),
      scopes: this.#endpoint.readScopes(),
      what: `blob ${desc.digest} in ${this.#endpoint.name}`,
    };
  }

  /** Pushes a blob, mounted from the repository's mount source when one is set and holds it. */
  async push(desc: Descriptor, content: Readable): Promise<void> {
    await this.#push(desc, content, this.#endpoint.mountFrom);
  }

  /** A blob mounted from `from` (another repository of this registry) when it holds it, else pushed. */
  async pushOrMount(desc: Descriptor, content: Readable, from: string): Promise<'mounted' | 'pushed'> {
    return this.#push(desc, content, from === this.#endpoint.repository ? undefined : from);
  }

  async #push(
    desc: Descriptor,
    content: Readable,
    mountFrom: string | undefined,
  ): Promise<'mounted' | 'pushed'> {
    const endpoint = this.#endpoint;
    const target = {
      client: endpoint.client,
      repositoryUrl: endpoint.repositoryUrl,
      name: endpoint.name,
      scopes: endpoint.writeScopes(mountFrom),
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
        `blob ${desc.digest} to ${endpoint.name}: the registry redirected the upload after its body was sent`,
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

  async delete(desc: Descriptor): Promise<void> {
    return this.#endpoint.delete('blobs', desc);
  }
}
