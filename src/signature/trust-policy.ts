import { readFile } from 'node:fs/promises';
import type { KeyObject } from 'node:crypto';
import { TrustedRoot } from '@sigstore/protobuf-specs';
import { toTrustMaterial, Verifier, type VerificationPolicy } from '@sigstore/verify';
import { KartError } from '../errors.ts';
import { verificationKeys, type VerificationKey } from './keys.ts';

/**
 * Whom a verification trusts: public keys (cosign `--key`), and/or a keyless identity — a Fulcio
 * certificate for `identity` issued through `issuer`, checked offline against a trusted root file
 * (what `cosign verify --certificate-identity … --certificate-oidc-issuer … --trusted-root …` takes).
 */
export interface TrustPolicy {
  /** public key PEM paths, or KeyObjects */
  keys?: readonly (string | KeyObject)[];
  keyless?: KeylessPolicy;
}

export interface KeylessPolicy {
  /** trusted_root.json (Sigstore's protobuf-specs TrustedRoot, as `cosign` and sigstore-js read it) */
  trustedRoot: string;
  /** the certificate's subject alternative name (an e-mail or a workflow URI) */
  identity: string;
  /** the OIDC issuer recorded in the certificate */
  issuer: string;
}

/** A policy read and ready: keys parsed, the trusted root loaded into a verifier. */
export interface LoadedTrust {
  keys: VerificationKey[];
  keyless?: { verifier: Verifier; policy: VerificationPolicy; identity: string; issuer: string };
}

export async function loadTrust(policy: TrustPolicy): Promise<LoadedTrust> {
  const keys = await verificationKeys(policy.keys ?? []);
  if (keys.length === 0 && policy.keyless === undefined) {
    throw new KartError('TRUST_POLICY_EMPTY', 'verification needs a key or a keyless identity to trust', {
      exitCode: 2,
      hint: 'pass --key PUB (or --verify-key), or --certificate-identity, --certificate-oidc-issuer and --trusted-root',
    });
  }
  if (policy.keyless === undefined) return { keys };
  const { trustedRoot, identity, issuer } = policy.keyless;
  const verifier = new Verifier(toTrustMaterial(await readTrustedRoot(trustedRoot)));
  return {
    keys,
    keyless: {
      verifier,
      policy: { subjectAlternativeName: identity, extensions: { issuer } },
      identity,
      issuer,
    },
  };
}

async function readTrustedRoot(path: string): Promise<TrustedRoot> {
  try {
    const root = TrustedRoot.fromJSON(JSON.parse(await readFile(path, 'utf8')));
    if (root.certificateAuthorities.length === 0) throw new Error('it lists no certificate authority');
    return root;
  } catch (error) {
    throw new KartError(
      'TRUSTED_ROOT_INVALID',
      `${path}: not a usable Sigstore trusted root (${(error as Error).message})`,
      {
        exitCode: 2,
        hint: 'pass the trusted_root.json of the Sigstore instance that issued the certificates (cosign trusted-root create, or the TUF repository)',
        details: { path },
      },
    );
  }
}
