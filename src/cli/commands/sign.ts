import type { Command } from 'commander';
import { action, printJson, printLine } from '../output.ts';
import { addRegistryOptions, targetOptions, type RegistryCliOptions } from '../registry-options.ts';

interface SignCliOptions extends RegistryCliOptions {
  key: string;
}

/** `kart sign REF --key KEY`: a cosign 3 signature (bundle referrer) on what REF names. */
export function register(program: Command): void {
  addRegistryOptions(
    program
      .command('sign')
      .description(
        'sign the manifest or index a reference names, as cosign 3 does (a Sigstore bundle referrer)',
      )
      .argument('<ref>', '[HOST/]REPO:TAG|@DIGEST or oci:DIR:TAG|@DIGEST')
      .requiredOption(
        '--key <pem>',
        'ECDSA P-256 private key: PEM (PKCS#8, SEC1) or cosign.key; a password from KART_KEY_PASSWORD, COSIGN_PASSWORD or a prompt',
      ),
  ).action(
    action(async (ref: string, options: SignCliOptions) => {
      const { signArtifact } = await import('../../signature/index.ts');
      const key = await (await import('../key-password.ts')).readCliSigningKey(options.key);
      const result = await signArtifact({ reference: ref, key, target: targetOptions(options) });
      if (options.json === true) printJson(result);
      else {
        printLine(`signed ${result.reference} (${result.subject.digest})`);
        printLine(`  signature ${result.signature.digest}  key ${result.key}`);
      }
      return 0;
    }),
  );
}
