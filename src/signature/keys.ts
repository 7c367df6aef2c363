import {
  createHash,
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  type KeyObject,
} from 'node:crypto';
import { link, open, readFile, unlink } from 'node:fs/promises';
import { syncDirectory, tempSiblingPath } from '../oci/atomic-file.ts';
import { dirname } from 'node:path';
import { COSIGN_KEY_PEM, readCosignKey } from './cosign-key-file.ts';
import { keyInvalid } from './signature-errors.ts';

/**
 * Keys as `openssl` and cosign write them: ECDSA P-256 in PEM (PKCS#8 `PRIVATE KEY`, SEC1
 * `EC PRIVATE KEY`, encrypted PKCS#8; SPKI `PUBLIC KEY`), and cosign's own encrypted `cosign.key`
 * (cosign-key-file.ts). Passwords come from KART_KEY_PASSWORD, else COSIGN_PASSWORD, as cosign takes it.
 */
export interface SigningKey {
  privateKey: KeyObject;
  publicKey: KeyObject;
  /** `sha256:<hex>` of the public key's DER (SPKI): how reports and kart.json name a key */
  fingerprint: string;
}

export interface VerificationKey {
  publicKey: KeyObject;
  fingerprint: string;
  /** where it came from (a file path, or "key N" for a KeyObject) */
  source: string;
}

export function keyFingerprint(publicKey: KeyObject): string {
  const der = publicKey.export({ type: 'spki', format: 'der' });
  return `sha256:${createHash('sha256').update(der).digest('hex')}`;
}

/** A key's password, or a way to ask for it (called only for an encrypted key: a CLI prompt). */
export type KeyPassword = string | undefined | (() => Promise<string | undefined>);

/** KART_KEY_PASSWORD, else COSIGN_PASSWORD (set but empty is the empty password, as in cosign). */
export function passwordFromEnvironment(): string | undefined {
  return process.env.KART_KEY_PASSWORD ?? process.env.COSIGN_PASSWORD;
}

/** A key given as a path is read (password from the environment); one already read is used as is. */
export async function readKeyOnce(key: string | SigningKey): Promise<SigningKey> {
  return typeof key === 'string' ? readSigningKey(key) : key;
}

export async function readSigningKey(
  path: string,
  password: KeyPassword = passwordFromEnvironment(),
): Promise<SigningKey> {
  const pem = await readKeyFile(path);
  const cosign = COSIGN_KEY_PEM.test(pem);
  const secret =
    (cosign || pem.includes('-----BEGIN ENCRYPTED PRIVATE KEY-----')) && typeof password === 'function'
      ? await password()
      : typeof password === 'function'
        ? undefined
        : password;
  const privateKey = cosign ? await readCosignKey(pem, path, secret) : readPemPrivateKey(pem, path, secret);
  requireP256(privateKey, path);
  const publicKey = createPublicKey(privateKey);
  return { privateKey, publicKey, fingerprint: keyFingerprint(publicKey) };
}

function readPemPrivateKey(pem: string, path: string, password: string | undefined): KeyObject {
  try {
    return createPrivateKey(password === undefined ? pem : { key: pem, passphrase: password });
  } catch (error) {
    throw keyInvalid(
      'KEY_INVALID',
      path,
      `not a readable PEM private key (${(error as Error).message})`,
      'pass an ECDSA P-256 key in PEM (openssl ecparam -name prime256v1 -genkey, or kart key generate); an encrypted one needs KART_KEY_PASSWORD or COSIGN_PASSWORD',
    );
  }
}

/** A public key file (SPKI PEM, or a private key whose public half is meant). */
export async function readVerificationKey(path: string): Promise<VerificationKey> {
  const pem = await readKeyFile(path);
  let publicKey: KeyObject;
  try {
    publicKey = createPublicKey(pem);
  } catch (error) {
    throw keyInvalid(
      'KEY_INVALID',
      path,
      `not a readable PEM public key (${(error as Error).message})`,
      'pass the PUBLIC KEY PEM file that belongs to the signing key (kart key generate writes NAME.pub)',
    );
  }
  requireP256(publicKey, path);
  return { publicKey, fingerprint: keyFingerprint(publicKey), source: path };
}

/** Keys given as paths or KeyObjects (the library's callers may hold them already). */
export async function verificationKeys(keys: readonly (string | KeyObject)[]): Promise<VerificationKey[]> {
  return Promise.all(
    keys.map(async (key, i) => {
      if (typeof key === 'string') return readVerificationKey(key);
      const publicKey = key.type === 'private' ? createPublicKey(key) : key;
      requireP256(publicKey, `key ${i + 1}`);
      return { publicKey, fingerprint: keyFingerprint(publicKey), source: `key ${i + 1}` };
    }),
  );
}

export interface GeneratedKeyPair {
  privateKeyPath: string;
  publicKeyPath: string;
  fingerprint: string;
}

/**
 * `kart key generate`: a P-256 pair as `<prefix>.key` (PKCS#8, mode 0600) and `<prefix>.pub` (SPKI).
 * Neither file is ever overwritten: each is written to a temp file and hard-linked into place, which
 * fails when the name exists.
 */
export async function generateKeyPair(prefix: string): Promise<GeneratedKeyPair> {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  const privateKeyPath = `${prefix}.key`;
  const publicKeyPath = `${prefix}.pub`;
  await writeNewFile(privateKeyPath, privateKey.export({ type: 'pkcs8', format: 'pem' }), 0o600);
  try {
    await writeNewFile(publicKeyPath, publicKey.export({ type: 'spki', format: 'pem' }), 0o644);
  } catch (error) {
    await unlink(privateKeyPath).catch(() => undefined);
    throw error;
  }
  return { privateKeyPath, publicKeyPath, fingerprint: keyFingerprint(publicKey) };
}

async function writeNewFile(path: string, text: string | Buffer, mode: number): Promise<void> {
  const temp = tempSiblingPath(path);
  const handle = await open(temp, 'wx', mode);
  try {
    await handle.writeFile(text);
    await handle.sync();
    await handle.close();
    await link(temp, path);
  } catch (error) {
    await handle.close().catch(() => undefined);
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') {
      throw keyInvalid(
        'KEY_EXISTS',
        path,
        'already exists; kart never overwrites a key',
        'choose another name, or move the old key away first',
      );
    }
    throw error;
  } finally {
    await unlink(temp).catch(() => undefined);
  }
  await syncDirectory(dirname(path));
}

async function readKeyFile(path: string): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch (error) {
    throw keyInvalid(
      'KEY_UNREADABLE',
      path,
      `cannot read it (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`,
      'check the path and its permissions',
    );
  }
}

function requireP256(key: KeyObject, where: string): void {
  if (key.asymmetricKeyType !== 'ec' || key.asymmetricKeyDetails?.namedCurve !== 'prime256v1') {
    const kind =
      key.asymmetricKeyType === 'ec' ? `ec ${key.asymmetricKeyDetails?.namedCurve}` : key.asymmetricKeyType;
    throw keyInvalid(
      'KEY_UNSUPPORTED',
      where,
      `is a ${kind ?? 'unknown'} key; kart signs and verifies with ECDSA P-256 (what cosign uses)`,
      'generate one with kart key generate or openssl ecparam -name prime256v1 -genkey',
    );
  }
}
