import { verify as ecdsaVerify } from 'node:crypto';
import { bundleFromJSON, type Bundle } from '@sigstore/bundle';
import { toSignedEntity, Verifier, type SignedEntity } from '@sigstore/verify';
import { KartError } from '../errors.ts';
import { digestAlgorithm, digestHex } from '../oci/digest.ts';
import { array, literal, looseObject, record, string } from '../oci/json-shape.ts';
import { fetchBytes, fetchManifest } from '../oci/manifest-io.ts';
import { parseJson, plainDescriptor, type Descriptor } from '../oci/schema.ts';
import type { Fetcher } from '../oci/store.ts';
import type { SignatureCandidate } from './find-signatures.ts';
import type { VerificationKey } from './keys.ts';
import { legacyKeylessEntity } from './legacy-keyless.ts';
import type { LoadedTrust } from './trust-policy.ts';
import { SignatureAnnotation, SigstoreType } from './signature-types.ts';

/**
 * Checks one signature of `subject` offline: the cryptography (sigstore-js for bundles, ECDSA over the
 * payload for legacy `.sig` layers) and then what sigstore-js leaves to its caller, that the signed
 * payload names this very digest (as cosign does).
 */
export type SignerIdentity =
  { kind: 'key'; key: string; source: string } | { kind: 'certificate'; identity: string; issuer: string };

export interface SignatureMatch {
  source: SignatureCandidate['source'];
  /** the signature manifest (referrer or `.sig` image) */
  signature: Descriptor;
  /** the layer that verified: the bundle, or the simple-signing payload */
  layer: Descriptor;
  signer: SignerIdentity;
}

export type SignatureCheck = { ok: true; match: SignatureMatch } | { ok: false; reason: string };

/** `offline`-trusted public keys: no log, no timestamp expected (cosign --insecure-ignore-tlog). */
const KEY_ONLY = { tlogThreshold: 0, ctlogThreshold: 0, timestampThreshold: 0 };

/**
 * The entity a trusted key is checked on: its signature alone. `cosign sign --key` uploads to Rekor by
 * default, so its bundles carry a tlog entry, and sigstore-js checks the inclusion of every entry it is
 * given whatever the threshold; with no log in a key's trust material that always fails. kart sets the
 * entries and timestamps aside, as `cosign verify --key … --insecure-ignore-tlog` does.
 */
function signatureOnly(entity: SignedEntity): SignedEntity {
  return { ...entity, tlogEntries: [], timestamps: [] };
}

export async function checkSignature(
  store: Fetcher,
  candidate: SignatureCandidate,
  subject: Descriptor,
  trust: LoadedTrust,
): Promise<SignatureCheck> {
  const label = `${candidate.manifest.digest} (${candidate.source})`;
  try {
    const fetched = await fetchManifest(store, candidate.manifest);
    if (fetched.kind !== 'manifest') return { ok: false, reason: `${label}: an index, not a signature` };
    return candidate.source === 'referrer'
      ? await checkBundle(store, candidate, fetched.manifest.layers, subject, trust, label)
      : await checkLegacy(store, candidate, fetched.manifest.layers, subject, trust, label);
  } catch (error) {
    // The registry failing is not a verdict on the signature: it stops the verification (exit 3).
    if (error instanceof KartError && error.exitCode === 3) throw error;
    return { ok: false, reason: `${label}: ${(error as Error).message}` };
  }
}

async function checkBundle(
  store: Fetcher,
  candidate: SignatureCandidate,
  layers: readonly Descriptor[],
  subject: Descriptor,
  trust: LoadedTrust,
  label: string,
): Promise<SignatureCheck> {
  const layer = layers.length === 1 ? layers[0]! : undefined;
  if (layer === undefined || !layer.mediaType.startsWith(SigstoreType.BundlePrefix)) {
    return { ok: false, reason: `${label}: not a Sigstore bundle referrer (one bundle layer expected)` };
  }
  const bundle = bundleFromJSON(JSON.parse((await fetchBytes(store, layer)).toString('utf8')) as unknown);
  if (bundle.content.$case !== 'dsseEnvelope') {
    return { ok: false, reason: `${label}: the bundle holds no DSSE envelope (cosign 3 signs a statement)` };
  }
  const entity = toSignedEntity(bundle);
  const signer = verifyEntity(entity, bundle, trust);
  if ('rejected' in signer) return { ok: false, reason: `${label}: ${signer.rejected}` };
  const envelope = bundle.content.dsseEnvelope;
  if (envelope.payloadType !== SigstoreType.InTotoPayload) {
    return { ok: false, reason: `${label}: payload type ${envelope.payloadType}, not an in-toto statement` };
  }
  const statement = parseJson(StatementSchema, envelope.payload, `${label} statement`);
  if (statement.predicateType !== SigstoreType.CosignSignPredicate) {
    return { ok: false, reason: `${label}: an attestation of ${statement.predicateType}, not a signature` };
  }
  const names = statement.subject.some(
    (s) => s.digest[digestAlgorithm(subject.digest)] === digestHex(subject.digest),
  );
  if (!names) {
    const signed = statement.subject.map((s) => Object.entries(s.digest).map(([a, h]) => `${a}:${h}`)).flat();
    return {
      ok: false,
      reason: `${label}: signs ${signed.join(', ') || 'no digest'}, not ${subject.digest}`,
    };
  }
  return { ok: true, match: { source: candidate.source, signature: candidate.manifest, layer, signer } };
}

/** Who signed the entity, among those trusted; else why not (sigstore-js's own words for a certificate). */
function verifyEntity(
  entity: SignedEntity,
  bundle: Bundle,
  trust: LoadedTrust,
): SignerIdentity | { rejected: string } {
  if (bundle.verificationMaterial.content.$case === 'publicKey') {
    const refusals = new Set<string>();
    for (const key of trust.keys) {
      try {
        new Verifier(keyTrust(key), KEY_ONLY).verify(signatureOnly(entity));
        return { kind: 'key', key: key.fingerprint, source: key.source };
      } catch (error) {
        // another key may be the one; sigstore's words are kept for the reason
        refusals.add(sigstoreReason(error));
      }
    }
    const why = refusals.size === 0 ? '' : ` (${[...refusals].join('; ')})`;
    return { rejected: `not signed by a trusted key${why}` };
  }
  return keylessSigner(() => entity, trust);
}

/** A certificate's signer, when the trusted root and identity policy accept it (sigstore-js's words if not). */
function keylessSigner(
  entity: () => SignedEntity,
  trust: LoadedTrust,
): SignerIdentity | { rejected: string } {
  if (trust.keyless === undefined)
    return { rejected: 'signed with a certificate, but no keyless identity is trusted' };
  try {
    trust.keyless.verifier.verify(entity(), trust.keyless.policy);
    return { kind: 'certificate', identity: trust.keyless.identity, issuer: trust.keyless.issuer };
  } catch (error) {
    return {
      rejected: `the certificate does not verify for the trusted identity (${sigstoreReason(error)})`,
    };
  }
}

/** sigstore-js's VerificationError as `CODE: message` (its code is stable, its message says what failed). */
function sigstoreReason(error: unknown): string {
  const code = (error as { code?: unknown }).code;
  return `${typeof code === 'string' ? `${code}: ` : ''}${(error as Error).message}`;
}

/** sigstore-js trust material holding one public key and nothing else (no CA, no logs). */
function keyTrust(key: VerificationKey): ConstructorParameters<typeof Verifier>[0] {
  return {
    certificateAuthorities: [],
    timestampAuthorities: [],
    tlogs: [],
    ctlogs: [],
    publicKey: () => ({ publicKey: key.publicKey, validFor: () => true }),
  };
}

async function checkLegacy(
  store: Fetcher,
  candidate: SignatureCandidate,
  layers: readonly Descriptor[],
  subject: Descriptor,
  trust: LoadedTrust,
  label: string,
): Promise<SignatureCheck> {
  const reasons: string[] = [];
  for (const layer of layers) {
    const encoded = layer.annotations?.[SignatureAnnotation.LegacySignature];
    if (layer.mediaType !== SigstoreType.SimpleSigning || encoded === undefined) continue;
    const payload = await fetchBytes(store, layer);
    const signer = legacySigner(layer, payload, Buffer.from(encoded, 'base64'), trust, label);
    if ('rejected' in signer) {
      reasons.push(`layer ${layer.digest} ${signer.rejected}`);
      continue;
    }
    const simple = parseJson(SimpleSigningSchema, payload, `${label} payload ${layer.digest}`);
    if (simple.critical.type !== SigstoreType.SimpleSigningType) {
      reasons.push(`layer ${layer.digest} is a "${simple.critical.type}"`);
      continue;
    }
    const signed = simple.critical.image['docker-manifest-digest'];
    if (signed !== subject.digest) {
      reasons.push(`layer ${layer.digest} signs ${signed}, not ${subject.digest}`);
      continue;
    }
    return {
      ok: true,
      match: {
        source: candidate.source,
        signature: candidate.manifest,
        layer: plainDescriptor(layer),
        signer,
      },
    };
  }
  return {
    ok: false,
    reason: `${label}: ${reasons.length > 0 ? reasons.join(', ') : 'no simple-signing layer with a signature'}`,
  };
}

/** Who signed a legacy layer: a trusted key (ECDSA over the payload), or a keyless certificate. */
function legacySigner(
  layer: Descriptor,
  payload: Buffer,
  signature: Buffer,
  trust: LoadedTrust,
  label: string,
): SignerIdentity | { rejected: string } {
  if (layer.annotations?.[SignatureAnnotation.LegacyCertificate] === undefined) {
    const key = trust.keys.find((k) =>
      ecdsaVerify('sha256', payload, { key: k.publicKey, dsaEncoding: 'der' }, signature),
    );
    if (key === undefined) return { rejected: 'not signed by a trusted key' };
    return { kind: 'key', key: key.fingerprint, source: key.source };
  }
  // The annotations are parsed inside: a malformed one is a refusal with its reason, like a bad bundle.
  return keylessSigner(
    () => legacyKeylessEntity(layer.annotations!, payload, signature, `${label} layer ${layer.digest}`),
    trust,
  );
}

const StatementSchema = looseObject({
  _type: literal(SigstoreType.InTotoStatementV1),
  subject: array(looseObject({ digest: record(string()) })),
  predicateType: string(),
});

const SimpleSigningSchema = looseObject({
  critical: looseObject({
    identity: looseObject({ 'docker-reference': string() }),
    image: looseObject({ 'docker-manifest-digest': string() }),
    type: string(),
  }),
});
