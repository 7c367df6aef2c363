import type { Command } from 'commander';
import { action, printJson, printLine } from '../output.ts';
import { addTransportOptions, transportOptions, type TransportFlags } from '../registry-options.ts';

interface LoginCommandOptions extends TransportFlags {
  username?: string;
  password?: string;
  passwordStdin?: boolean;
  authfile?: string;
  verbose?: boolean;
  json?: boolean;
}

/** Passwords are short; a bigger stdin is a mistake (a file piped by accident), not a password. */
const MAX_PASSWORD_BYTES = 64 * 1024;

async function readPasswordFromStdin(): Promise<string> {
  const { KartError } = await import('../../errors.ts');
  const { readBounded } = await import('../../oci/bounded-read.ts');
  const bytes = await readBounded(
    process.stdin,
    MAX_PASSWORD_BYTES,
    () =>
      new KartError(
        'LOGIN_INPUT_INVALID',
        `stdin holds more than ${MAX_PASSWORD_BYTES} bytes; that is no password`,
        {
          exitCode: 2,
          hint: 'pipe only the password, e.g. `printf %s "$TOKEN" | kart login HOST -u USER --password-stdin`',
        },
      ),
  );
  // docker trims the trailing newline `echo` adds; so do we (only that one).
  return bytes.toString('utf8').replace(/\r?\n$/, '');
}

/** `kart login REGISTRY -u USER --password-stdin`: verify against the registry, then save. */
export function register(program: Command): void {
  addTransportOptions(
    program
      .command('login')
      .description(
        'log in to a registry: verify the credentials, then save them where docker and skopeo read them',
      )
      .argument('<registry>', 'registry host, e.g. ghcr.io or localhost:5000')
      .option('-u, --username <user>', 'user name')
      .option('--password-stdin', 'read the password (or token) from stdin')
      .option(
        '-p, --password <password>',
        'password on the command line (insecure: visible to other users; prefer --password-stdin)',
      )
      .option(
        '--authfile <path>',
        "write this file instead of docker's config.json (e.g. a containers auth.json)",
      )
      .option('--verbose', 'explain the authentication steps on stderr (never shows secrets)')
      .option('--json', 'print the result as JSON'),
  ).action(
    action(async (registry: string, options: LoginCommandOptions) => {
      const { KartError } = await import('../../errors.ts');
      if (options.username === undefined || options.username === '') {
        throw new KartError('LOGIN_INPUT_INVALID', 'kart login needs a user name', {
          exitCode: 2,
          hint: 'pass -u USER and the password on stdin with --password-stdin',
        });
      }
      if (options.password !== undefined && options.passwordStdin) {
        throw new KartError('LOGIN_INPUT_INVALID', '--password and --password-stdin exclude each other', {
          exitCode: 2,
          hint: 'use --password-stdin alone',
        });
      }
      let password: string;
      if (options.passwordStdin) {
        password = await readPasswordFromStdin();
      } else if (options.password !== undefined) {
        process.stderr.write(
          'kart: warning: a password on the command line is visible to other users and lands in shell history; use --password-stdin\n',
        );
        password = options.password;
      } else {
        throw new KartError('LOGIN_INPUT_INVALID', 'kart login needs the password on stdin', {
          exitCode: 2,
          hint: 'pipe it in with --password-stdin, e.g. `kart login HOST -u USER --password-stdin < token-file`',
        });
      }
      const { login } = await import('../../registry/auth/login.ts');
      const result = await login({
        registry,
        username: options.username,
        password,
        ...(options.authfile === undefined ? {} : { authFile: options.authfile }),
        ...transportOptions(options),
        ...(options.verbose ? { log: (line: string) => process.stderr.write(`kart: ${line}\n`) } : {}),
      });
      if (options.json) {
        printJson({ registry: result.registry, verified: result.verified, savedTo: result.savedTo });
      } else {
        if (!result.verified) {
          process.stderr.write(
            `kart: warning: ${result.registry} lets anyone in, so the password could not be checked\n`,
          );
        }
        printLine(`Login succeeded: ${result.registry} (saved to ${result.savedTo.where})`);
      }
    }),
  );
}
