import { Command, CommanderError } from 'commander';
import { COMMANDS } from './commands/index.ts';

// A usage error (unknown option, missing argument) is reported like any other error: as JSON on
// stdout when the command line asks for JSON, so a script parsing the output never gets plain text.
const wantsJson = process.argv.some(
  (arg, i, all) =>
    arg === '--json' || arg === '--format=json' || (arg === '--format' && all[i + 1] === 'json'),
);

/**
 * The kart CLI: a thin skin over the library. Each command module registers its options and, only when
 * it runs, imports the library code it needs, so `kart --help` loads nothing but the option tables.
 */
const program = new Command('kart')
  .description('Publish built Linux kernels to OCI registries and pull them back by tag.')
  .version('0.1.0')
  // Program options only before the command: `kart pack --version 6.1.10` is pack's option, not kart's.
  .enablePositionalOptions()
  .showHelpAfterError()
  .configureOutput(wantsJson ? { writeErr: () => undefined } : {})
  .exitOverride();

for (const register of COMMANDS) register(program);

// `kart tags REPO | head` closes stdout early: that is the reader's choice, not an error to report.
process.stdout.on('error', (error: NodeJS.ErrnoException) => {
  if (error.code === 'EPIPE') process.exit(process.exitCode ?? 0);
  throw error;
});

try {
  await program.parseAsync(process.argv);
} catch (error) {
  if (error instanceof CommanderError) {
    // --help and --version end here with code 0; usage errors (unknown option, missing argument) with 2.
    process.exitCode = error.exitCode === 0 ? 0 : 2;
    if (error.exitCode !== 0 && wantsJson) {
      const { KartError } = await import('../errors.ts');
      const { printError } = await import('./output.ts');
      const message = error.message.replace(/^error: /, '').replaceAll('\n', ' ');
      printError(
        new KartError('USAGE_INVALID', message, { hint: 'kart help COMMAND shows its usage' }),
        true,
      );
    }
  } else {
    throw error;
  }
}
