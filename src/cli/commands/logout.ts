import type { Command } from 'commander';
import { action, printJson, printLine } from '../output.ts';

interface LogoutCommandOptions {
  authfile?: string;
  json?: boolean;
}

/** `kart logout REGISTRY`: erase the saved credentials (file entry, or through the credential helper). */
export function register(program: Command): void {
  program
    .command('logout')
    .description('remove the saved credentials of a registry')
    .argument('<registry>', 'registry host, e.g. ghcr.io or localhost:5000')
    .option('--authfile <path>', "edit this file instead of docker's config.json")
    .option('--json', 'print the result as JSON')
    .action(
      action(async (registry: string, options: LogoutCommandOptions) => {
        const { logout } = await import('../../registry/auth/login.ts');
        const result = await logout({
          registry,
          ...(options.authfile === undefined ? {} : { authFile: options.authfile }),
        });
        if (options.json) {
          printJson({ registry: result.registry, removed: result.removed, location: result.location });
        } else if (result.removed) {
          printLine(`Removed login credentials for ${result.registry} (from ${result.location.where})`);
        } else {
          printLine(`Not logged in to ${result.registry}`);
        }
      }),
    );
}
