import type { Command } from 'commander';
import { action, printJson, printLine } from '../output.ts';

/** `kart key generate [NAME]`: NAME.key (PKCS#8, 0600) and NAME.pub, never overwriting either. */
export function register(program: Command): void {
  const key = program.command('key').description('signing keys');
  key
    .command('generate')
    .description('write a new ECDSA P-256 key pair: NAME.key (private, mode 0600) and NAME.pub')
    .argument('[name]', 'path prefix of the two files', 'kart')
    .option('--json', 'print the result as JSON')
    .action(
      action(async (name: string, options: { json?: boolean }) => {
        const { generateKeyPair } = await import('../../signature/keys.ts');
        const pair = await generateKeyPair(name);
        if (options.json === true) printJson(pair);
        else {
          printLine(`private key ${pair.privateKeyPath} (keep it secret)`);
          printLine(`public key  ${pair.publicKeyPath}  ${pair.fingerprint}`);
        }
        return 0;
      }),
    );
}
