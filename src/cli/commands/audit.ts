import type { Command } from 'commander';
import { addMirrorOptions, mirrorSources, type MirrorFlags } from '../mirror-options.ts';
import { action, collect } from '../output.ts';
import {
  addTransportOptions,
  parseConcurrency,
  transportOptions,
  type TransportFlags,
} from '../registry-options.ts';
import { REPORT_FORMATS, reportFormatOf } from '../report-format.ts';

interface AuditCliOptions extends TransportFlags, MirrorFlags {
  flavor: string[];
  format: string;
  json?: boolean;
  arch?: string;
  catalogue?: string;
  concurrency?: string;
}

/** `kart audit REPO --flavor F`: every published kernel of a repository against flavors (exit 1 if any fails). */
export function register(program: Command): void {
  addTransportOptions(
    addMirrorOptions(
      program
        .command('audit')
        .description(
          "check every tag of a repository against flavors' requirements, through the config layers alone (exit 0 all met, 1 some not)",
        )
        .argument(
          '<repo>',
          'REGISTRY/REPO or oci:DIR (with --catalogue: the REGISTRY the catalogue publishes to)',
        )
        .option(
          '--flavor <name|path>',
          'a shipped flavor name or a flavor file path (repeatable)',
          collect,
          [],
        )
        .option(
          '--catalogue <file>',
          "audit what a publish catalogue says was published (each job's own flavor unless --flavor)",
        )
        .option('--arch <arch>', 'check this platform only (amd64|arm64; default every one)')
        .option('--format <format>', `report format: ${REPORT_FORMATS.join(', ')}`, 'text')
        .option('--json', 'same as --format json')
        .option('--concurrency <n>', 'tags resolved and kernels checked at once (1 to 64)', '4'),
    ),
  ).action(
    action(async (repo: string, options: AuditCliOptions) => {
      const { KartError } = await import('../../errors.ts');
      const format = await reportFormatOf(options);
      if (options.flavor.length === 0 && options.catalogue === undefined) {
        throw new KartError('CHECK_NO_FLAVOR', 'kart audit needs at least one --flavor (or a --catalogue)', {
          hint: 'name a shipped flavor (kart flavors lists them) or a flavor file, e.g. --flavor zone',
          exitCode: 2,
        });
      }
      const concurrency = parseConcurrency(options.concurrency);
      const { loadFlavor } = await import('../../kernel/flavor/index.ts');
      const flavors = [];
      for (const name of options.flavor) flavors.push(await loadFlavor(name));
      const { auditRepository, renderAudit } = await import('../../kernel/check/index.ts');
      const { parseArchOption } = await import('../../kernel/artifact/kernel-platform.ts');
      const audit = await auditRepository(repo, {
        flavors,
        ...(options.arch === undefined ? {} : { arch: parseArchOption(options.arch) }),
        ...(options.catalogue === undefined ? {} : { catalogue: options.catalogue }),
        ...(concurrency === undefined ? {} : { concurrency }),
        transport: { ...transportOptions(options), sources: mirrorSources(options) },
      });
      process.stdout.write(renderAudit(audit, format));
      return audit.ok ? 0 : 1;
    }),
  );
}
