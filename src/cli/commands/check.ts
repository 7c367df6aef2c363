import type { Command } from 'commander';
import { action, collect } from '../output.ts';

const FORMATS = ['text', 'json', 'github', 'junit'] as const;

interface CheckOptions {
  flavor: string[];
  format: string;
  json?: boolean;
}

/** `kart check --flavor zone PATH`: does a kernel config hold what its flavors require? Exit 0 yes, 1 no, 2 bad input. */
export function register(program: Command): void {
  program
    .command('check')
    .description(
      "check a kernel config against flavors' requirements (exit 0 all met, 1 some not, 2 bad input)",
    )
    .argument('<path>', 'a .config, a config.gz (detected by content), or - for stdin')
    .option('--flavor <name|path>', 'a shipped flavor name or a flavor file path (repeatable)', collect, [])
    .option('--format <format>', `report format: ${FORMATS.join(', ')}`, 'text')
    .option('--json', 'same as --format json')
    .action(
      action(async (path: string, options: CheckOptions) => {
        const { KartError } = await import('../../errors.ts');
        const format = options.json === true ? 'json' : options.format;
        if (!(FORMATS as readonly string[]).includes(format)) {
          throw new KartError('CHECK_BAD_FORMAT', `unknown --format ${JSON.stringify(format)}`, {
            hint: `use one of ${FORMATS.join(', ')}`,
            exitCode: 2,
          });
        }
        if (options.flavor.length === 0) {
          throw new KartError('CHECK_NO_FLAVOR', 'kart check needs at least one --flavor', {
            hint: 'name a shipped flavor (kart flavors lists them) or a flavor file, e.g. --flavor zone',
            exitCode: 2,
          });
        }
        const flavorLib = await import('../../kernel/flavor/index.ts');
        const { readKernelConfig } = await import('../../kernel/config/index.ts');
        // Flavors first: a bad flavor is a usage error worth reporting before reading a large config.
        const flavors = [];
        for (const name of options.flavor) flavors.push(await flavorLib.loadFlavor(name));
        const config = await readKernelConfig(path, { whole: true });
        const report = flavorLib.checkConfig(config, flavors);
        const render = {
          text: flavorLib.renderCheckText,
          json: flavorLib.renderCheckJson,
          github: flavorLib.renderCheckGithub,
          junit: flavorLib.renderCheckJunit,
        }[format as (typeof FORMATS)[number]];
        process.stdout.write(render(report));
        return report.ok ? 0 : 1;
      }),
    );
}
