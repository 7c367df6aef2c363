import { KartError } from '../errors.ts';
import { parseReference, type Reference } from '../oci/reference.ts';
import type { Target } from '../oci/store.ts';
import { anonymous, type Authorizer } from './authorizer.ts';
import type { UploadOptions } from './blob-upload.ts';
import { RegistryHttpClient, type HttpClientOptions } from './http-client.ts';
import { RepositoryStore } from './repository.ts';

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
  upload?: Partial<UploadOptions>;
  /** Share one HTTP client (connection pool, token cache) between targets. */
  client?: RegistryHttpClient;
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
  const owned = options.client === undefined;
  const client =
    options.client ??
    new RegistryHttpClient({ ...options, authorizer: options.authorizer ?? (await defaultAuthorizer()) });
  const target = new RepositoryStore({
    client,
    host: reference.registry,
    repository: reference.repository,
    plainHttp: options.plainHttp,
    upload: options.upload,
  });
  return { target, reference, tagOrDigest, close: () => (owned ? client.close() : Promise.resolve()) };
}

/**
 * The auth room's authorizer reading docker/podman credential files, loaded lazily; anonymous when
 * that room's entry point is not there.
 */
export async function defaultAuthorizer(): Promise<Authorizer> {
  const authEntry = './auth/index.ts';
  const credentialsEntry = './credentials/index.ts';
  try {
    const auth = (await import(authEntry)) as { createAuthorizer?: (o: object) => Authorizer };
    const credentials = (await import(credentialsEntry)) as { createCredentialStore?: () => unknown };
    if (typeof auth.createAuthorizer !== 'function') return anonymous;
    return auth.createAuthorizer(
      credentials.createCredentialStore ? { credentials: credentials.createCredentialStore() } : {},
    );
  } catch (error) {
    if (error instanceof KartError) throw error;
    return anonymous;
  }
}
