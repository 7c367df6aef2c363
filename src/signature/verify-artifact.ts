import type { Descriptor } from '../oci/schema.ts';
import type { Fetcher, Target } from '../oci/store.ts';
import type { OpenTargetOptions } from '../registry/open-target.ts';
import { findSignatures, type SignatureCandidate } from './find-signatures.ts';
import { withOpenedSubject } from './open-subject.ts';
import { signatureInvalid, signatureMissing } from './signature-errors.ts';
import { loadTrust, type LoadedTrust, type TrustPolicy } from './trust-policy.ts';
import { checkSignature, type SignatureMatch } from './verify-signature.ts';

/**
 * `kart verify REF` as a library call: every signature of the digest REF resolves to is checked
 * offline against the trust policy; the first that verifies is the answer. None found is
 * SIGNATURE_MISSING, none verifying SIGNATURE_INVALID (both exit 1); a registry failure stays exit 3.
 */
export interface VerifyArtifactOptions extends TrustPolicy {
  reference: string;
  target?: OpenTargetOptions;
}

export interface VerifiedSignature extends SignatureMatch {
  subject: Descriptor;
  /** why each signature looked at before the match did not verify */
  rejected: string[];
}

export interface VerifyArtifactResult extends VerifiedSignature {
  reference: string;
}

export async function verifyArtifact(options: VerifyArtifactOptions): Promise<VerifyArtifactResult> {
  const trust = await loadTrust(options);
  return withOpenedSubject(options.reference, { ...options.target, access: 'pull' }, async (opened) => {
    const verified = await verifySubject(opened.target, opened.subject, trust);
    return { reference: opened.reference, ...verified };
  });
}

/** Finds the signatures of `subject` in `target` and verifies them. */
export async function verifySubject(
  target: Target,
  subject: Descriptor,
  trust: LoadedTrust,
): Promise<VerifiedSignature> {
  return verifyCandidates(target, await findSignatures(target, subject), subject, trust, target.name);
}

/** Verifies candidates read through `store` (which may be a cache in front of the registry). */
export async function verifyCandidates(
  store: Fetcher,
  candidates: readonly SignatureCandidate[],
  subject: Descriptor,
  trust: LoadedTrust,
  where: string,
): Promise<VerifiedSignature> {
  if (candidates.length === 0) throw signatureMissing(subject.digest, where);
  const rejected: string[] = [];
  for (const candidate of candidates) {
    const check = await checkSignature(store, candidate, subject, trust);
    if (check.ok) return { subject, ...check.match, rejected };
    rejected.push(check.reason);
  }
  throw signatureInvalid(subject.digest, where, rejected);
}
