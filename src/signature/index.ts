export {
  signArtifact,
  signDescriptor,
  type SignArtifactOptions,
  type SignArtifactResult,
  type SignatureWritten,
} from './sign-artifact.ts';
export {
  verifyArtifact,
  verifySubject,
  type VerifyArtifactOptions,
  type VerifyArtifactResult,
  type VerifiedSignature,
} from './verify-artifact.ts';
export { loadTrust, type TrustPolicy, type KeylessPolicy, type LoadedTrust } from './trust-policy.ts';
export {
  generateKeyPair,
  readSigningKey,
  readVerificationKey,
  keyFingerprint,
  type SigningKey,
  type GeneratedKeyPair,
} from './keys.ts';
export { findSignatures, type SignatureCandidate } from './find-signatures.ts';
export { SigstoreType, SignatureAnnotation } from './signature-types.ts';
export type { SignatureMatch, SignerIdentity } from './verify-signature.ts';
export { readPolicyFile, type RepositoryPolicies } from './policy-file.ts';
