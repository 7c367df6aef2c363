import { KartError } from '../errors.ts';
import { sha256Digest, type Digest } from '../oci/digest.ts';
import { MAX_MANIFEST_BYTES, MediaType } from '../oci/media-types.ts';
import type { Descriptor, ImageIndex } from '../oci/schema.ts';
import { discard, failure, header, readBoundedText } from './http-client.ts';
import { readManifestBody } from './manifest-reader.ts';
import { emptyReferrersIndex, parseReferrersIndex, referrersTag } from './referrers.ts';
import type { RepositoryEndpoint } from './repository-endpoint.ts';
import { nextPage } from './tag-list.ts';

/** Puts an index under a tag through the manifest store (its cache and digest check included). */
export type PutIndex = (desc: Descriptor, bytes: Buffer, tag: string) => Promise<void>;

/**
 * The referrers of one repository's manifests: listed from the referrers API, or from the
 * `<alg>-<hex>` fallback tag when the registry has no API; that fallback index is what the manifest
 * store keeps up to date when it pushes or deletes a manifest with a subject.
 */
export class RepositoryReferrers {
  readonly #endpoint: RepositoryEndpoint;
  readonly #putIndex: PutIndex;
  /** Serialises updates of referrers fallback indexes within this process. */
  #update: Promise<unknown> = Promise.resolve();

  constructor(endpoint: RepositoryEndpoint, putIndex: PutIndex) {
    this.#endpoint = endpoint;
    this.#putIndex = putIndex;
  }

  /** The manifests that name `subject` as their subject, optionally only those of one artifactType. */
  async list(subject: Descriptor, artifactType?: string): Promise<Descriptor[]> {
    const endpoint = this.#endpoint;
    const what = `referrers of ${endpoint.name}@${subject.digest}`;
    let url: URL | undefined = new URL(`referrers/${subject.digest}`, endpoint.repositoryUrl);
    if (artifactType) url.searchParams.set('artifactType', artifactType);
    const found: Descriptor[] = [];
    let filtered = false;
    for (let page = 0; url; page++) {
      if (page >= 100)
        throw new KartError('REFERRERS_TOO_LONG', `${what}: more than 100 pages`, { exitCode: 3 });
      const answer = await endpoint.client.request({
        method: 'GET',
        url,
        scopes: endpoint.readScopes(),
        what,
      });
      if (answer.status === 404 && page === 0) {
        await discard(answer.body);
        return filterType((await this.#fallbackIndex(subject.digest)).manifests, artifactType);
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

  /** Whether the registry answers the referrers API (a 404 means it has none). */
  async hasApi(subject: Digest): Promise<boolean> {
    const endpoint = this.#endpoint;
    const answer = await endpoint.client.request({
      method: 'GET',
      url: new URL(`referrers/${subject}`, endpoint.repositoryUrl),
      scopes: endpoint.readScopes(),
      what: `referrers of ${endpoint.name}@${subject}`,
    });
    await discard(answer.body);
    return answer.status === 200;
  }

  /** Rewrites the fallback index of `subject` with `change`, one update at a time. */
  updateFallback(subject: Digest, change: (index: ImageIndex) => ImageIndex): Promise<void> {
    const run = this.#update.then(async () => {
      const index = change(await this.#fallbackIndex(subject));
      const bytes = Buffer.from(JSON.stringify({ ...index, mediaType: MediaType.OciIndex }));
      await this.#putIndex(
        { mediaType: MediaType.OciIndex, digest: sha256Digest(bytes), size: bytes.length },
        bytes,
        referrersTag(subject),
      );
    });
    this.#update = run.catch(() => {});
    return run;
  }

  async #fallbackIndex(subject: Digest): Promise<ImageIndex> {
    const endpoint = this.#endpoint;
    const tag = referrersTag(subject);
    const what = `referrers tag ${endpoint.name}:${tag}`;
    const answer = await endpoint.client.request({
      method: 'GET',
      url: endpoint.url('manifests', tag),
      scopes: endpoint.readScopes(),
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
}

function filterType(descs: Descriptor[], artifactType: string | undefined): Descriptor[] {
  return artifactType ? descs.filter((d) => d.artifactType === artifactType) : descs;
}
