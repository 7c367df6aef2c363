import { createPrivateKey, scrypt, type KeyObject } from 'node:crypto';
import { xsalsa20poly1305 } from '@noble/ciphers/salsa.js';
import { checkShape, int, literal, object, string } from '../oci/json-shape.ts';
import { keyInvalid } from './signature-errors.ts';

/**
 * cosign's own private key file (`cosign generate-key-pair`): PEM `ENCRYPTED SIGSTORE PRIVATE KEY`
 * (older cosign: `ENCRYPTED COSIGN PRIVATE KEY`) around JSON from go-securesystemslib's `encrypted`
 * package: a scrypt key derived from the password and salt opens a NaCl secretbox (XSalsa20-Poly1305)
 * holding the PKCS#8 DER key. Node has scrypt; the secretbox comes from @noble/ciphers, since
 * OpenSSL (and so Node's crypto) has no XSalsa20.
 */
export const COSIGN_KEY_PEM =
  /-----BEGIN ENCRYPTED (SIGSTORE|COSIGN) PRIVATE KEY-----([\s\S]*?)-----END ENCRYPTED \1 PRIVATE KEY-----/;

const EncryptedKeySchema = object({
  kdf: object({
    name: literal('scrypt'),
    params: object({ N: int({ min: 1 }), r: int({ min: 1 }), p: int({ min: 1 }) }),
    salt: string(),
  }),
  cipher: object({ name: literal('nacl/secretbox'), nonce: string() }),
  ciphertext: string(),
});

/** Scrypt cost cosign uses (N=2^15..2^16); anything far above it is refused rather than run for minutes. */
const MAX_SCRYPT_N = 1 << 20;

export async function readCosignKey(
  pem: string,
  path: string,
  password: string | undefined,
): Promise<KeyObject> {
  if (password === undefined) {
    throw keyInvalid(
      'KEY_PASSWORD_MISSING',
      path,
      'is a cosign key, encrypted with a password, and none was given',
      'set COSIGN_PASSWORD (or KART_KEY_PASSWORD) to its password; an empty password is COSIGN_PASSWORD=',
    );
  }
  const body = COSIGN_KEY_PEM.exec(pem)?.[2] ?? '';
  const parsed = checkShape(
    EncryptedKeySchema,
    safeJson(Buffer.from(body.replace(/\s+/g, ''), 'base64').toString('utf8')),
  );
  if (!parsed.ok || parsed.value.kdf.params.N > MAX_SCRYPT_N) {
    throw keyInvalid(
      'KEY_INVALID',
      path,
      'is not a cosign encrypted key kart can read (scrypt + nacl/secretbox expected)',
      'regenerate it with cosign generate-key-pair, or use a PEM key (kart key generate)',
    );
  }
  const { kdf, cipher, ciphertext } = parsed.value;
  const { N, r, p } = kdf.params;
  const secret = await new Promise<Buffer>((done, fail) =>
    scrypt(password, Buffer.from(kdf.salt, 'base64'), 32, { N, r, p, maxmem: 256 * N * r }, (error, key) =>
      error ? fail(error) : done(key),
    ),
  );
  let der: Uint8Array;
  try {
    der = xsalsa20poly1305(secret, Buffer.from(cipher.nonce, 'base64')).decrypt(
      Buffer.from(ciphertext, 'base64'),
    );
  } catch {
    throw keyInvalid(
      'KEY_PASSWORD_WRONG',
      path,
      'the password does not open this cosign key',
      'set COSIGN_PASSWORD (or KART_KEY_PASSWORD) to the password it was generated with',
    );
  }
  return createPrivateKey({ key: Buffer.from(der), format: 'der', type: 'pkcs8' });
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}
