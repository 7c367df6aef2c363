import { isDigest } from '../oci/digest.ts';
import type { Descriptor } from '../oci/schema.ts';
import { registryBaseUrl } from './endpoint.ts';
import { discard, failure, type RegistryHttpClient } from './http-client.ts';

/**
 * One registry repository as its stores address it: the `/v2/<name>/` URLs, the names messages use,
 * and the token scopes each request asks for. The blob store, the manifest store and the referrers
 * share one, so a mount source set on the repository changes the scopes of every later write.
 */
export type RepositoryAccess = 'pull' | 'push';

/** The two content-addressed halves of a repository in the distribution API. */
export type ContentKind = 'blobs' | 'manifests';

export interface RepositoryEndpointOptions {
  client: RegistryHttpClient;
  host: string;
  repository: string;
  plainHttp?: boolean | undefined;
  access?: RepositoryAccess | undefined;
}

export class RepositoryEndpoint {
  readonly client: RegistryHttpClient;
  readonly host: string;
  readonly repository: string;
  /** `host/repository`, as messages name the repository */
  readonly name: string;
  readonly repositoryUrl: URL;
  readonly #access: RepositoryAccess;
  /** Another repository of this registry that pushes mount blobs from (never this one). */
  mountFrom: string | undefined;

  constructor(options: RepositoryEndpointOptions) {
    this.client = options.client;
    this.host = options.host;
    this.repository = options.repository;
    this.name = `${options.host}/${options.repository}`;
    this.repositoryUrl = new URL(
      `v2/${options.repository}/`,
      registryBaseUrl(options.host, { plainHttp: options.plainHttp }),
    );
    this.#access = options.access ?? 'pull';
  }

  /**
   * The scopes of a read: `pull`, or the push scopes when the repository was opened for pushing (one
   * token then serves the whole push, as oras-go does with its scope hints).
   */
  readScopes(): string[] {
    return this.#access === 'push' ? this.writeScopes() : [`repository:${this.repository}:pull`];
  }

  /** The scopes of a write: `pull,push` here, and `pull` on the repository blobs are mounted from. */
  writeScopes(mountFrom = this.mountFrom): string[] {
    const scopes = [`repository:${this.repository}:pull,push`];
    if (mountFrom !== undefined) {
      scopes.push(`repository:${mountFrom}:pull`);
    }
    return scopes;
  }

  url(kind: ContentKind, reference: string): URL {
    return new URL(`${kind}/${reference}`, this.repositoryUrl);
  }

  /** `host/repo@digest` or `host/repo:tag` */
  display(reference: string): string {
    return isDigest(reference) ? `${this.name}@${reference}` : `${this.name}:${reference}`;
  }

  /** HEAD on a blob or manifest by digest: true on 200, false on 404. */
  async exists(kind: ContentKind, desc: Descriptor, headers: Record<string, string> = {}): Promise<boolean> {
    const answer = await this.client.request({
      method: 'HEAD',
      url: this.url(kind, desc.digest),
      scopes: this.readScopes(),
      headers,
      what: `${kind === 'blobs' ? 'blob' : 'manifest'} ${desc.digest} in ${this.name}`,
    });
    await discard(answer.body);
    if (answer.status === 200) return true;
    if (answer.status === 404) return false;
    throw await failure(answer, `${kind} ${desc.digest} in ${this.name}`);
  }

  /** DELETE of a blob or manifest by digest, with the `delete` scope the registry asks for. */
  async delete(kind: ContentKind, desc: Descriptor): Promise<void> {
    const what = `${kind === 'blobs' ? 'blob' : 'manifest'} ${this.name}@${desc.digest}`;
    const answer = await this.client.request({
      method: 'DELETE',
      url: this.url(kind, desc.digest),
      scopes: [`repository:${this.repository}:delete`],
      what,
    });
    if (answer.status !== 202 && answer.status !== 200 && answer.status !== 204)
      throw await failure(answer, what);
    await discard(answer.body);
  }
}
