import type { Command } from 'commander';
import { action, collect, printJson, printLine } from '../output.ts';
import { addRegistryOptions, targetOptions, type RegistryCliOptions } from '../registry-options.ts';

interface VerifyCliOptions extends RegistryCliOptions {
  key: string[];
  certificateIdentity?: string;
  certificateOidcIssuer?: string;
  trustedRoot?: string;
}

/**
 * `kart verify REF --key PUB`: exit 0 when a signature of what REF names verifies, 1 when none does
 * (SIGNATURE_MISSING, SIGNATURE_INVALID), 3 when the registry fails.
 */
export function register(program: Command): void {
  addRegistryOptions(
    program
      .command('verify')
      .description(
        'verify the cosign signatures (bundle referrers, legacy .sig tags) of what a reference names, offline',
      )
      .argument('<ref>', '[HOST/]REPO:TAG|@DIGEST or oci:DIR:TAG|@DIGEST')
      .option('--key <pem>', 'a trusted ECDSA P-256 public key, PEM (repeatable)', collect, [])
      .option('--certificate-identity <san>', "keyless: the signing certificate's identity (e-mail or URI)")
      .option('--certificate-oidc-issuer <url>', 'keyless: the OIDC issuer in the certificate')
      .option('--trusted-root <json>', 'keyless: the Sigstore trusted_root.json to verify against'),
  ).action(
    action(async (ref: string, options: VerifyCliOptions) => {
      const { verifyArtifact } = await import('../../signature/index.ts');
      const { keylessOptions } = await import('../trust-options.ts');
      const result = await verifyArtifact({
        reference: ref,
        keys: options.key,
        ...keylessOptions(options),
        target: targetOptions(options),
      });
      if (options.json === true) printJson(result);
      else {
        const signer =
          result.signer.kind === 'key'
            ? `key ${result.signer.key} (${result.signer.source})`
            : `${result.signer.identity} via ${result.signer.issuer}`;
        printLine(`verified ${result.reference} (${result.subject.digest})`);
        printLine(`  ${result.source} ${result.signature.digest} signed by ${signer}`);
      }
      return 0;
    }),
  );
}
