import { resolveIfPresent } from '../oci/resolve-if-present.ts';
import type { Digest } from '../oci/digest.ts';
import { plainDescriptor, type Descriptor } from '../oci/schema.ts';
import type { Target } from '../oci/store.ts';
import { legacySignatureTag } from '../registry/referrers.ts';
import { listReferrers } from '../registry/store-referrers.ts';
import { SigstoreType } from './signature-types.ts';

/**
 * Where signatures of a digest are found: its bundle referrers (the referrers API, else the
 * `sha256-<hex>` fallback index), and cosign's legacy `sha256-<hex>.sig` tag.
 */
export interface SignatureCandidate {
  source: 'referrer' | 'legacy-tag';
  manifest: Descriptor;
}

export async function findSignatures(target: Target, subject: Descriptor): Promise<SignatureCandidate[]> {
  const referrers = await listReferrers(target, subject);
  const candidates: SignatureCandidate[] = referrers
    // cosign keeps any referrer whose one layer is a bundle; an artifactType that says otherwise
    // (an SBOM, a notation signature) is not one of them.
    .filter((r) => r.artifactType === undefined || r.artifactType.startsWith(SigstoreType.BundlePrefix))
    .map((manifest) => ({ source: 'referrer', manifest: plainDescriptor(manifest) }));
  const legacy = await resolveIfPresent(target, legacySignatureTag(subject.digest as Digest));
  if (legacy !== undefined) candidates.push({ source: 'legacy-tag', manifest: plainDescriptor(legacy) });
  return candidates;
}
