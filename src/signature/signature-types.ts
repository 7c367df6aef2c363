/**
 * The formats cosign writes and reads, as constants (COSIGN v3.1.2, see the signing research):
 * the bundle referrer of cosign 3 and the legacy `sha256-<hex>.sig` tag image.
 */
export const SigstoreType = {
  /** a Sigstore bundle v0.3: the referrer's artifactType and its one layer's media type */
  BundleV03: 'application/vnd.dev.sigstore.bundle.v0.3+json',
  /** any bundle version (cosign keeps a referrer whose one layer starts with this) */
  BundlePrefix: 'application/vnd.dev.sigstore.bundle',
  InTotoPayload: 'application/vnd.in-toto+json',
  InTotoStatementV1: 'https://in-toto.io/Statement/v1',
  /** the predicate of `cosign sign` (an empty predicate: "this digest is signed") */
  CosignSignPredicate: 'https://sigstore.dev/cosign/sign/v1',
  /** legacy `.sig` images: one layer per signature, the payload is the layer */
  SimpleSigning: 'application/vnd.dev.cosign.simplesigning.v1+json',
  SimpleSigningType: 'cosign container image signature',
} as const;

/** Annotations on cosign's signature manifests and layers. */
export const SignatureAnnotation = {
  BundleContent: 'dev.sigstore.bundle.content',
  BundlePredicateType: 'dev.sigstore.bundle.predicateType',
  Created: 'org.opencontainers.image.created',
  /** legacy layer annotation: base64 of the DER signature over the layer's bytes */
  LegacySignature: 'dev.cosignproject.cosign/signature',
  /** legacy keyless: the Fulcio leaf certificate (PEM) that signed the layer */
  LegacyCertificate: 'dev.sigstore.cosign/certificate',
  /** legacy keyless: the certificate's chain (PEM); kart chains to the trusted root's CAs instead */
  LegacyChain: 'dev.sigstore.cosign/chain',
  /** legacy: the Rekor entry with its signed entry timestamp (SET), cosign's `bundle` JSON */
  LegacyRekorBundle: 'dev.sigstore.cosign/bundle',
} as const;
