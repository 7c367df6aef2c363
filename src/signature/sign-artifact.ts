import type { Signer, Witness } from '@sigstore/sign';
import { KartError } from '../errors.ts';
import type { Digest } from '../oci/digest.ts';
import { descriptorOf, pushBytes } from '../oci/manifest-io.ts';
import { MediaType } from '../oci/media-types.ts';
import type { Descriptor } from '../oci/schema.ts';
import type { Target } from '../oci/store.ts';
import type { OpenTargetOptions } from '../registry/open-target.ts';
import { attachReferrer } from '../registry/store-referrers.ts';
import { createSignatureBundle, localKeySigner, signStatement } from './cosign-bundle.ts';
import { readKeyOnce, type SigningKey } from './keys.ts';
import { withOpenedSubject } from './open-subject.ts';
import { EMPTY_CONFIG, signatureManifest } from './signature-manifest.ts';
import { SigstoreType } from './signature-types.ts';

/**
 * `kart sign REF --key KEY` as a library call: resolves REF to the manifest or index it names and
 * attaches a cosign 3 signature to it (a bundle referrer; on a registry without the referrers API and
 * in a layout, also listed under the `sha256-<hex>` tag).
 */
export interface SignArtifactOptions {
  reference: string;
  /** a PEM file path, or a key already read with readSigningKey */
  key: string | SigningKey;
  target?: OpenTargetOptions;
  now?: Date;
}

export interface SignatureWritten {
  /** what was signed */
  subject: Descriptor;
  /** the referrer manifest */
  signature: Descriptor;
  /** its one layer, the bundle */
  bundle: Descriptor;
  /** the key's fingerprint, `sha256:<hex>` of its DER public key */
  key: string;
}

export interface SignArtifactResult extends SignatureWritten {
  reference: string;
}

export async function signArtifact(options: SignArtifactOptions): Promise<SignArtifactResult> {
  const key = await readKeyOnce(options.key);
  return withOpenedSubject(options.reference, { ...options.target, access: 'push' }, async (opened) => {
    const written = await signDescriptor(opened.target, opened.subject, key, { now: options.now });
    return { reference: opened.reference, ...written };
  });
}

export interface SignDescriptorOptions {
  now?: Date;
  /** sign this statement instead of the one naming `subject` (tests: a signature over another digest) */
  statement?: Buffer;
  /** another signer than the local key: keyless signing through a Fulcio (FulcioSigner) */
  signer?: Signer;
  /** transparency log / timestamp witnesses (RekorWitness, TSAWitness); none by default (offline) */
  witnesses?: Witness[];
}

/** Signs content already in `target` and attaches the signature to it. */
export async function signDescriptor(
  target: Target,
  subject: Descriptor,
  key: SigningKey | undefined,
  options: SignDescriptorOptions = {},
): Promise<SignatureWritten> {
  const signer = options.signer ?? (key === undefined ? undefined : localKeySigner(key));
  if (signer === undefined) throw new KartError('KEY_MISSING', 'signing needs a key or a signer');
  const statement = options.statement ?? signStatement(subject.digest as Digest);
  const bundleBytes = Buffer.from(
    JSON.stringify(await createSignatureBundle(signer, statement, options.witnesses)),
    'utf8',
  );
  const bundle = descriptorOf(bundleBytes, SigstoreType.BundleV03);
  await pushBytes(target, bundle, bundleBytes);
  await pushBytes(target, descriptorOf(EMPTY_CONFIG, MediaType.OciEmpty), EMPTY_CONFIG);
  const manifest = signatureManifest(subject, bundle, options.now ?? new Date());
  await attachReferrer(target, subject, manifest);
  return {
    subject,
    signature: manifest.descriptor,
    bundle,
    key: key?.fingerprint ?? 'keyless',
  };
}
