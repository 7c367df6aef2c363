import { KartError } from '../errors.ts';
import type { KeylessPolicy } from '../signature/trust-policy.ts';

export interface KeylessFlags {
  certificateIdentity?: string;
  certificateOidcIssuer?: string;
  trustedRoot?: string;
}

/** The three keyless flags go together: all of them (a keyless policy) or none. */
export function keylessOptions(flags: KeylessFlags): { keyless?: KeylessPolicy } {
  const given = [flags.certificateIdentity, flags.certificateOidcIssuer, flags.trustedRoot];
  if (given.every((flag) => flag === undefined)) return {};
  if (given.some((flag) => flag === undefined)) {
    throw new KartError(
      'KEYLESS_INCOMPLETE',
      'keyless verification needs --certificate-identity, --certificate-oidc-issuer and --trusted-root together',
      { exitCode: 2, hint: 'pass all three (or verify with --key PUB instead)' },
    );
  }
  return {
    keyless: {
      identity: flags.certificateIdentity!,
      issuer: flags.certificateOidcIssuer!,
      trustedRoot: flags.trustedRoot!,
    },
  };
}
