/**
 * What the signature tests share: key pairs made by `openssl` (the tool users have), and a legacy
 * cosign `.sig` image written by hand from the research's description, signed with
 * `openssl dgst -sha256 -sign`, so kart's legacy reader is checked against bytes it did not make.
 */
import { execFileSync } from 'node:child_process';
import { createPrivateKey, randomBytes, scryptSync } from 'node:crypto';
import { xsalsa20poly1305 } from '@noble/ciphers/salsa.js';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { openLayout } from '../../src/oci/layout.ts';
import { descriptorOf, fetchBytes, pushBytes } from '../../src/oci/manifest-io.ts';
import { attachReferrer } from '../../src/registry/store-referrers.ts';
import { signDescriptor } from '../../src/signature/sign-artifact.ts';
import { signatureManifest } from '../../src/signature/signature-manifest.ts';
import type { SigningKey } from '../../src/signature/keys.ts';
import { MediaType } from '../../src/oci/media-types.ts';
import type { Descriptor } from '../../src/oci/schema.ts';
import type { Target } from '../../src/oci/store.ts';

export interface KeyFiles {
  key: string;
  pub: string;
}

/** An ECDSA P-256 pair from openssl: `sec1` writes `EC PRIVATE KEY`, `pkcs8` writes `PRIVATE KEY`. */
export function opensslKeyPair(dir: string, name: string, format: 'sec1' | 'pkcs8' = 'pkcs8'): KeyFiles {
  const sec1 = join(dir, `${name}.sec1.pem`);
  const key = join(dir, `${name}.key`);
  const pub = join(dir, `${name}.pub`);
  execFileSync('openssl', ['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', sec1]);
  if (format === 'pkcs8') execFileSync('openssl', ['pkcs8', '-topk8', '-nocrypt', '-in', sec1, '-out', key]);
  else writeFileSync(key, readFileSync(sec1));
  execFileSync('openssl', ['ec', '-in', sec1, '-pubout', '-out', pub], { stdio: 'ignore' });
  return { key, pub };
}

/**
 * A legacy `.sig` for `subject` whose payload, written here, names `signedDigest` (by default the
 * subject's own), signed by `openssl dgst -sha256 -sign` with `keyPath`.
 */
export async function storeOpensslLegacySignature(
  target: Target,
  subject: Descriptor,
  options: { dockerReference: string; keyPath: string; dir: string; signedDigest?: string },
): Promise<Descriptor> {
  const payload = simpleSigningPayload(options.dockerReference, options.signedDigest ?? subject.digest);
  return storeLegacySignature(target, subject, payload, opensslSign(options.dir, options.keyPath, payload));
}

/** cosign's simple-signing payload, in the exact Go encoding the research gives. */
export function simpleSigningPayload(dockerReference: string, digest: string): Buffer {
  return Buffer.from(
    `{"critical":{"identity":{"docker-reference":"${dockerReference}"},"image":{"docker-manifest-digest":"${digest}"},"type":"cosign container image signature"},"optional":null}`,
  );
}

/** DER ECDSA signature by `openssl dgst -sha256 -sign`, base64 as cosign's annotation holds it. */
function opensslSign(dir: string, keyPath: string, payload: Buffer): string {
  const file = join(dir, `payload-${process.hrtime.bigint()}.json`);
  writeFileSync(file, payload);
  return execFileSync('openssl', ['dgst', '-sha256', '-sign', keyPath, file]).toString('base64');
}

/**
 * Writes a legacy `.sig` image (config + one simple-signing layer) and tags it `sha256-<hex>.sig`;
 * `annotations` adds cosign's keyless ones (certificate, chain, bundle).
 */
export async function storeLegacySignature(
  target: Target,
  subject: Descriptor,
  payload: Buffer,
  signatureBase64: string,
  annotations: Record<string, string> = {},
): Promise<Descriptor> {
  const layer = descriptorOf(payload, 'application/vnd.dev.cosign.simplesigning.v1+json', {
    annotations: { 'dev.cosignproject.cosign/signature': signatureBase64, ...annotations },
  });
  await pushBytes(target, layer, payload);
  const config = Buffer.from(
    JSON.stringify({ architecture: '', os: '', rootfs: { type: 'layers', diff_ids: [] }, config: {} }),
  );
  const configDesc = descriptorOf(config, MediaType.OciConfig);
  await pushBytes(target, configDesc, config);
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: MediaType.OciManifest,
      config: configDesc,
      layers: [layer],
    }),
  );
  const desc = descriptorOf(manifest, MediaType.OciManifest);
  await pushBytes(target, desc, manifest);
  await target.tag(desc, `${subject.digest.replace(':', '-')}.sig`);
  return desc;
}

/**
 * A tampered signature of `subject`: kart's own valid bundle (made in a scratch layout) with one field
 * of its signed statement changed, stored consistently under its own digest with its own referrer
 * manifest, so only the signature check can refuse it.
 */
export async function attachTamperedSignature(
  target: Target,
  subject: Descriptor,
  key: SigningKey,
  scratchDir: string,
): Promise<Descriptor> {
  const scratch = await openLayout(scratchDir, { create: true });
  const good = await signDescriptor(scratch, subject, key);
  const json = JSON.parse((await fetchBytes(scratch, good.bundle)).toString()) as {
    dsseEnvelope: { payload: string };
  };
  const statement = Buffer.from(json.dsseEnvelope.payload, 'base64').toString();
  json.dsseEnvelope.payload = Buffer.from(
    statement.replace('"predicate":{}', '"predicate":{"x":1}'),
  ).toString('base64');
  const bytes = Buffer.from(JSON.stringify(json));
  const bundle = descriptorOf(bytes, 'application/vnd.dev.sigstore.bundle.v0.3+json');
  await pushBytes(target, bundle, bytes);
  await pushBytes(target, descriptorOf(Buffer.from('{}'), MediaType.OciEmpty), Buffer.from('{}'));
  const manifest = signatureManifest(subject, bundle, new Date());
  await attachReferrer(target, subject, manifest);
  return manifest.descriptor;
}

/**
 * A key file in cosign's encrypted format, written by the test from the format's description (scrypt
 * N=65536 r=8 p=1 as cosign uses, NaCl secretbox over the PKCS#8 DER, JSON in PEM), for `keyPath`'s key.
 */
export function cosignKeyFile(dir: string, keyPath: string, password: string): string {
  const der = createPrivateKey(readFileSync(keyPath)).export({ type: 'pkcs8', format: 'der' });
  const salt = randomBytes(32);
  const nonce = randomBytes(24);
  const secret = scryptSync(password, salt, 32, { N: 65536, r: 8, p: 1, maxmem: 256 * 65536 * 8 });
  const document = {
    kdf: { name: 'scrypt', params: { N: 65536, r: 8, p: 1 }, salt: salt.toString('base64') },
    cipher: { name: 'nacl/secretbox', nonce: nonce.toString('base64') },
    ciphertext: Buffer.from(xsalsa20poly1305(secret, nonce).encrypt(der)).toString('base64'),
  };
  const body = Buffer.from(JSON.stringify(document))
    .toString('base64')
    .replace(/(.{64})/g, '$1\n');
  const path = join(dir, `cosign-${process.hrtime.bigint()}.key`);
  writeFileSync(
    path,
    `-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----\n${body}\n-----END ENCRYPTED SIGSTORE PRIVATE KEY-----\n`,
  );
  return path;
}
