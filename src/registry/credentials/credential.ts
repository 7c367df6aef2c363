/**
 * What a registry login is, once read from wherever it was kept. Exactly one of these shapes is used:
 * username + password (Basic, and the token GET), an identity token (the OAuth2 refresh_token grant),
 * or a registry token (sent as the Bearer token directly).
 */
export interface Credential {
  username?: string;
  password?: string;
  /** docker's `identitytoken`, or a helper answer with Username `<token>`. */
  identityToken?: string;
  /** docker's `registrytoken`: already an access token. */
  registryToken?: string;
}

/** Where credentials for a registry host (`host[:port]`) come from. */
export interface CredentialStore {
  /** The credential for `registry`, or undefined to go anonymous. */
  get(registry: string): Promise<Credential | undefined>;
}

/** Where a credential was written or erased: a file path, or a helper's program name. */
export interface CredentialLocation {
  kind: 'file' | 'helper';
  /** The file path, or `docker-credential-<suffix>`. */
  where: string;
}

export interface WritableCredentialStore extends CredentialStore {
  store(registry: string, credential: Credential): Promise<CredentialLocation>;
  /** Removes the credential; `removed` is false when there was none. */
  erase(registry: string): Promise<CredentialLocation & { removed: boolean }>;
}

/** A store holding fixed credentials in memory (what `kart login` verifies before saving). */
export function staticCredentials(entries: Record<string, Credential>): CredentialStore {
  return { get: async (registry) => entries[registry] };
}

/** True when the credential carries something to authenticate with. */
export function hasSecret(credential: Credential | undefined): credential is Credential {
  return (
    credential !== undefined &&
    (credential.password !== undefined ||
      credential.identityToken !== undefined ||
      credential.registryToken !== undefined)
  );
}
