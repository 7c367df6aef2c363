import type { Dispatcher } from 'undici';
import { parseReference, type Reference } from '../oci/reference.ts';
import type { Target } from '../oci/store.ts';
import type { Authorizer } from './authorizer.ts';
import { createAuthorizer } from './auth/index.ts';
import { createCredentialStore } from './credentials/index.ts';
import type { UploadOptions } from './blob-upload.ts';
import { createDispatcher, RegistryHttpClient, type HttpClientOptions } from './http-client.ts';
import type { PullSourceOptions } from './mirrors/open-pull-source.ts';
import { RepositoryStore, type RepositoryAccess } from './repository.ts';

/**
 * Opens the store a reference names: an OCI layout for `oci:DIR[:TAG|@DIGEST]`, a registry repository
 * otherwise. Commands call this for both ends of a copy, so every command accepts either.
 */
export interface OpenTargetOptions extends Omit<HttpClientOptions, 'authorizer'> {
  /** Credentials and tokens; defaults to the auth room's authorizer over docker/podman config files. */
  authorizer?: Authorizer;
  plainHttp?: boolean;
  /** Create a missing layout directory (destinations). */
  create?: boolean;
  /**
   * What a registry repository is opened for: `push` asks for `pull,push` from the first request on
   * (one token per push). Default: `push` for a destination (`create`), `pull` otherwise.
   */
  access?: RepositoryAccess;
  upload?: Partial<UploadOptions>;
  /** Share one HTTP client (connection pool, token cache) between targets. */
  client?: RegistryHttpClient;
  /**
   * A pull's sources (registries.conf mirrors, --mirror); read for sources opened for pulling only,
   * never for a destination. Default: containers' registries.conf files; false: the reference alone.
   */
  sources?: PullSourceOptions | false;
}

export interface OpenedTarget {
  target: Target;
  reference: Reference;
  /** The tag or digest the reference names (undefined when it names neither). */
  tagOrDigest: string | undefined;
  /** Releases connections; call when done. */
  close(): Promise<void>;
}

export async function openTarget(ref: string, options: OpenTargetOptions = {}): Promise<Target> {
  return (await openReference(ref, options)).target;
}

export async function openReference(ref: string, options: OpenTargetOptions = {}): Promise<OpenedTarget> {
  const reference = parseReference(ref);
  const tagOrDigest = reference.digest ?? reference.tag;
  if (reference.kind === 'layout') {
    const { openLayout } = await import('../oci/layout.ts');
    const target = await openLayout(reference.dir, { create: options.create === true });
    return { target, reference, tagOrDigest, close: async () => {} };
  }
  if (options.create !== true && (options.access ?? 'pull') === 'pull') {
    const { openPullSource } = await import('./mirrors/open-pull-source.ts');
    const pullSource = await openPullSource(reference, options);
    if (pullSource !== undefined) return { ...pullSource, reference, tagOrDigest };
  }
  const { target, close } = openRepository(reference.registry, reference.repository, options);
  return { target, reference, tagOrDigest, close };
}

/** A RepositoryStore over `host/repository` with its own HTTP client unless `options.client` is given. */
export function openRepository(
  host: string,
  repository: string,
  options: OpenTargetOptions,
): { target: RepositoryStore; close(): Promise<void> } {
  let client = options.client;
  let close = async () => {};
  if (client === undefined) {
    // One pool for the registry and its token endpoint: same proxy and TLS settings for both.
    const dispatcher = options.dispatcher ?? createDispatcher(options);
    client = new RegistryHttpClient({
      ...options,
      dispatcher,
      authorizer: options.authorizer ?? defaultAuthorizer(dispatcher),
    });
    close = async () => {
      if (options.dispatcher === undefined) await dispatcher.close();
    };
  }
  const target = new RepositoryStore({
    client,
    host,
    repository,
    plainHttp: options.plainHttp,
    upload: options.upload,
    access: options.access ?? (options.create === true ? 'push' : 'pull'),
  });
  return { target, close };
}

/** The auth room's authorizer over docker/podman credential files (DOCKER_CONFIG, REGISTRY_AUTH_FILE). */
export function defaultAuthorizer(dispatcher?: Dispatcher): Authorizer {
  return createAuthorizer({ credentials: createCredentialStore(), ...(dispatcher ? { dispatcher } : {}) });
}
