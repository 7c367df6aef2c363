import { sign as ecdsaSign } from 'node:crypto';
import { bundleToJSON, type SerializedBundle } from '@sigstore/bundle';
import { DSSEBundleBuilder, type Signer, type Witness } from '@sigstore/sign';
import { digestAlgorithm, digestHex, type Digest } from '../oci/digest.ts';
import type { SigningKey } from './keys.ts';
import { SigstoreType } from './signature-types.ts';

/**
 * What `cosign sign` (v3, new bundle format) signs: an in-toto Statement v1 naming the digest, with
 * cosign's empty "sign" predicate, in a DSSE envelope in a Sigstore bundle v0.3. sigstore-js builds the
 * envelope and the bundle; kart only supplies the statement and a signer over its local key.
 */
export function signStatement(subject: Digest): Buffer {
  const statement = {
    _type: SigstoreType.InTotoStatementV1,
    subject: [{ digest: { [digestAlgorithm(subject)]: digestHex(subject) } }],
    predicateType: SigstoreType.CosignSignPredicate,
    predicate: {},
  };
  return Buffer.from(JSON.stringify(statement), 'utf8');
}

/** A sigstore-js Signer over a local key: DER ECDSA signature, the public key as the verification material. */
export function localKeySigner(key: SigningKey): Signer {
  const publicKey = key.publicKey.export({ type: 'spki', format: 'pem' }).toString();
  return {
    sign: async (data: Buffer) => ({
      signature: ecdsaSign('sha256', data, key.privateKey),
      key: { $case: 'publicKey', publicKey, hint: key.fingerprint },
    }),
  };
}

/**
 * A bundle over `statement`. By default no witnesses: kart signs offline, as
 * `cosign sign --key --tlog-upload=false` does, and key verifiers expect no log entry.
 */
export async function createSignatureBundle(
  signer: Signer,
  statement: Buffer,
  witnesses: Witness[] = [],
): Promise<SerializedBundle> {
  const bundle = await new DSSEBundleBuilder({ signer, witnesses }).create({
    data: statement,
    type: SigstoreType.InTotoPayload,
  });
  return bundleToJSON(bundle);
}
