import { mkdir, open } from 'node:fs/promises';
import { dirname } from 'node:path';
import { isKartError, KartError } from '../../errors.ts';
import { writeFileAtomic } from '../../oci/atomic-file.ts';
import { checkShape, looseObject, optional, record, string, type Infer } from '../../oci/json-shape.ts';
import type { Credential } from './credential.ts';
import { normaliseRegistryHost, serverAddressFor } from './server-address.ts';

/**
 * docker's config.json and the containers auth.json (skopeo, podman) share one shape: `auths` keyed by
 * server address. Unknown fields are kept on rewrite (they belong to docker and others).
 */
const AuthEntrySchema = looseObject({
  auth: optional(string()),
  username: optional(string()),
  password: optional(string()),
  identitytoken: optional(string()),
  registrytoken: optional(string()),
});
type AuthEntry = Infer<typeof AuthEntrySchema>;

export const AuthFileSchema = looseObject({
  auths: optional(record(AuthEntrySchema)),
  credsStore: optional(string()),
  credHelpers: optional(record(string())),
});
export type AuthFile = Infer<typeof AuthFileSchema>;

/** Auth files are small; anything bigger is not one (and is not read into memory whole). */
const MAX_AUTH_FILE_BYTES = 4 * 1024 * 1024;

function invalidFile(path: string, what: string): KartError {
  return new KartError('CREDENTIALS_FILE_INVALID', `credentials file ${path}: ${what}`, {
    exitCode: 2,
    hint: 'fix or remove the file (docker login / skopeo login write it), or point --authfile elsewhere',
    details: { path },
  });
}

/** Reads and validates an auth file; undefined when it does not exist. Messages never quote values. */
export async function readAuthFile(path: string): Promise<AuthFile | undefined> {
  const raw = await readRawAuthFile(path);
  if (raw === undefined) return undefined;
  const parsed = checkShape(AuthFileSchema, raw);
  if (!parsed.ok) {
    throw invalidFile(path, `field "${parsed.mismatch.path.join('.')}" ${parsed.mismatch.reason}`);
  }
  return parsed.value;
}

async function readRawAuthFile(path: string): Promise<Record<string, unknown> | undefined> {
  let text: string;
  try {
    const handle = await open(path, 'r');
    try {
      const { size } = await handle.stat();
      if (size > MAX_AUTH_FILE_BYTES)
        throw invalidFile(path, `is ${size} bytes, more than an auth file holds`);
      text = await handle.readFile('utf8');
    } finally {
      await handle.close();
    }
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    if (error instanceof KartError) throw error;
    throw new KartError('CREDENTIALS_FILE_UNREADABLE', `credentials file ${path} cannot be read`, {
      exitCode: 2,
      hint: 'check its permissions',
      cause: error,
    });
  }
  if (text.trim() === '') return {};
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    // The parser's message can quote the text around the error, which may be a secret: say only where.
    throw invalidFile(path, 'is not valid JSON');
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw invalidFile(path, 'is not a JSON object');
  }
  return value as Record<string, unknown>;
}

/** The entry filed for `registry`: the exact server address first, then legacy keys normalised. */
export function findAuthEntry(file: AuthFile, registry: string): AuthEntry | undefined {
  const auths = file.auths ?? {};
  const exact = auths[serverAddressFor(registry)] ?? auths[registry];
  if (exact) return exact;
  const host = normaliseRegistryHost(registry);
  const key = Object.keys(auths).find((k) => normaliseRegistryHost(k) === host);
  return key === undefined ? undefined : auths[key];
}

/** The helper suffix configured for `registry` (`credHelpers` for the host, else `credsStore`). */
export function helperFor(file: AuthFile, registry: string): string | undefined {
  const host = normaliseRegistryHost(registry);
  const helpers = file.credHelpers ?? {};
  const key = Object.keys(helpers).find((k) => normaliseRegistryHost(k) === host);
  const suffix = (key === undefined ? undefined : helpers[key]) ?? file.credsStore;
  return suffix === undefined || suffix === '' ? undefined : suffix;
}

/** Decodes an entry into a credential; undefined when it holds nothing usable (e.g. `{}`). */
export function credentialFromEntry(path: string, entry: AuthEntry): Credential | undefined {
  const credential: Credential = {};
  if (entry.auth !== undefined && entry.auth !== '') {
    const decoded = Buffer.from(entry.auth, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    if (colon < 0) throw invalidFile(path, 'an "auth" value is not base64 of "user:password"');
    credential.username = decoded.slice(0, colon);
    const password = decoded.slice(colon + 1);
    if (password !== '') credential.password = password;
  } else {
    if (entry.username !== undefined) credential.username = entry.username;
    if (entry.password !== undefined && entry.password !== '') credential.password = entry.password;
  }
  if (entry.identitytoken) credential.identityToken = entry.identitytoken;
  if (entry.registrytoken) credential.registryToken = entry.registrytoken;
  return credential.password || credential.identityToken || credential.registryToken ? credential : undefined;
}

/**
 * Rewrites an auth file through `change`, keeping every field it does not touch. Replaced atomically
 * (0600), through a symlink as docker does, so a reader never sees half a file.
 */
export async function updateAuthFile(
  path: string,
  change: (file: Record<string, unknown> & { auths: Record<string, Record<string, unknown>> }) => void,
): Promise<void> {
  const raw = (await readRawAuthFile(path)) ?? {};
  if (!checkShape(AuthFileSchema, raw).ok) throw invalidFile(path, 'does not have the shape of an auth file');
  const auths =
    typeof raw.auths === 'object' && raw.auths !== null
      ? (raw.auths as Record<string, Record<string, unknown>>)
      : {};
  const file = { ...raw, auths };
  change(file);
  await mkdir(dirname(path), { recursive: true, mode: 0o700 });
  try {
    await writeFileAtomic(path, `${JSON.stringify(file, null, '\t')}\n`, { mode: 0o600 });
  } catch (error) {
    if (isKartError(error)) throw error;
    throw new KartError('CREDENTIALS_FILE_UNWRITABLE', `credentials file ${path} cannot be written`, {
      exitCode: 2,
      hint: 'check that its directory exists and is writable, or choose another with --authfile',
      cause: error,
    });
  }
}

/** The auths entry docker and skopeo write for a credential. */
export function entryForCredential(credential: Credential): Record<string, unknown> {
  const user =
    credential.identityToken !== undefined ? (credential.username ?? '<token>') : credential.username;
  const secret = credential.identityToken !== undefined ? '' : (credential.password ?? '');
  return {
    auth: Buffer.from(`${user ?? ''}:${secret}`, 'utf8').toString('base64'),
    ...(credential.identityToken !== undefined ? { identitytoken: credential.identityToken } : {}),
  };
}

/** Keys in `auths` that name `registry` (the canonical one and legacy spellings). */
export function authKeysFor(auths: Record<string, unknown>, registry: string): string[] {
  const host = normaliseRegistryHost(registry);
  return Object.keys(auths).filter((k) => normaliseRegistryHost(k) === host);
}
