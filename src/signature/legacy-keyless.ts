import { createHash, X509Certificate } from 'node:crypto';
import { bundleFromJSON } from '@sigstore/bundle';
import { toSignedEntity, type SignedEntity } from '@sigstore/verify';
import { int, looseObject, refine, string } from '../oci/json-shape.ts';
import { parseJson } from '../oci/schema.ts';
import { SignatureAnnotation } from './signature-types.ts';

/**
 * A cosign v2 keyless `.sig` layer as sigstore-js verifies it: the layer annotations (Fulcio leaf
 * certificate, Rekor entry with its SET) turned into the v0.1 bundle they amount to, a message
 * signature over the simple-signing payload with one hashedrekord entry. sigstore-js then checks the
 * certificate against the trusted root's CAs and CT logs, the SET against its Rekor keys, that the
 * entry records this signature and digest, and the identity policy, as for a bundle referrer. The
 * `chain` annotation is not trusted: the chain is built from the trusted root.
 */
export function legacyKeylessEntity(
  annotations: Readonly<Record<string, string>>,
  payload: Buffer,
  signature: Buffer,
  what: string,
): SignedEntity {
  const certificate = annotations[SignatureAnnotation.LegacyCertificate]!;
  const rekor = annotations[SignatureAnnotation.LegacyRekorBundle];
  const tlogEntries =
    rekor === undefined ? [] : [tlogEntry(rekor, `${what} ${SignatureAnnotation.LegacyRekorBundle}`)];
  const bundle = bundleFromJSON({
    mediaType: 'application/vnd.dev.sigstore.bundle+json;version=0.1',
    verificationMaterial: {
      x509CertificateChain: {
        certificates: [{ rawBytes: new X509Certificate(certificate).raw.toString('base64') }],
      },
      tlogEntries,
      timestampVerificationData: { rfc3161Timestamps: [] },
    },
    messageSignature: {
      messageDigest: { algorithm: 'SHA2_256', digest: createHash('sha256').update(payload).digest('base64') },
      signature: signature.toString('base64'),
    },
  });
  return toSignedEntity(bundle, payload);
}

/** cosign's `bundle` annotation: `{SignedEntryTimestamp, Payload: {body, integratedTime, logIndex, logID}}`. */
const RekorBundleSchema = looseObject({
  SignedEntryTimestamp: string(),
  Payload: looseObject({
    body: string(),
    integratedTime: int(),
    logIndex: int(),
    logID: refine(
      string(),
      (id) => /^[0-9a-f]+$/.test(id),
      'Invalid string: must match pattern /^[0-9a-f]+$/',
    ),
  }),
});

const BodyKindSchema = looseObject({ kind: string(), apiVersion: string() });

function tlogEntry(json: string, what: string): unknown {
  const { SignedEntryTimestamp, Payload } = parseJson(RekorBundleSchema, Buffer.from(json, 'utf8'), what);
  const body = Buffer.from(Payload.body, 'base64');
  const kind = parseJson(BodyKindSchema, body, `${what} body`);
  return {
    logIndex: String(Payload.logIndex),
    logId: { keyId: Buffer.from(Payload.logID, 'hex').toString('base64') },
    kindVersion: { kind: kind.kind, version: kind.apiVersion },
    integratedTime: String(Payload.integratedTime),
    inclusionPromise: { signedEntryTimestamp: SignedEntryTimestamp },
    canonicalizedBody: Payload.body,
  };
}
