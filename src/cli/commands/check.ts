import type { Command } from 'commander';
import { addMirrorOptions, mirrorSources, type MirrorFlags } from '../mirror-options.ts';
import { action, collect } from '../output.ts';
import { addTransportOptions, transportOptions, type TransportFlags } from '../registry-options.ts';
import { REPORT_FORMATS, reportFormatOf } from '../report-format.ts';

interface CheckOptions extends TransportFlags, MirrorFlags {
  flavor: string[];
  format: string;
  json?: boolean;
  arch?: string;
}

/**
 * `kart check --flavor zone INPUT`: does a kernel config hold what its flavors require? INPUT is a
 * config file, a kernel image (its embedded config) or a published kernel. Exit 0 yes, 1 no, 2 bad input.
 */
export function register(program: Command): void {
  addTransportOptions(
    addMirrorOptions(
      program
        .command('check')
        .description(
          "check a kernel config against flavors' requirements (exit 0 all met, 1 some not, 2 bad input)",
        )
        .argument(
          '<input>',
          'a .config, a config.gz, - for stdin, a kernel image (vmlinuz, Image, Image.gz, vmlinuz.efi, vmlinux: its embedded config), or a published kernel (REGISTRY/REPO:TAG, oci:DIR:TAG)',
        )
        .option(
          '--flavor <name|path>',
          'a shipped flavor name or a flavor file path (repeatable)',
          collect,
          [],
        )
        .option('--format <format>', `report format: ${REPORT_FORMATS.join(', ')}`, 'text')
        .option('--json', 'same as --format json')
        .option(
          '--arch <arch>',
          'a published kernel: check this platform only (amd64|arm64; default every one)',
        ),
    ),
  ).action(
    action(async (input: string, options: CheckOptions) => {
      const { KartError } = await import('../../errors.ts');
      const format = await reportFormatOf(options);
      if (options.flavor.length === 0) {
        throw new KartError('CHECK_NO_FLAVOR', 'kart check needs at least one --flavor', {
          hint: 'name a shipped flavor (kart flavors lists them) or a flavor file, e.g. --flavor zone',
          exitCode: 2,
        });
      }
      const flavorLib = await import('../../kernel/flavor/index.ts');
      // Flavors first: a bad flavor is a usage error worth reporting before reading a large input.
      const flavors = [];
      for (const name of options.flavor) flavors.push(await flavorLib.loadFlavor(name));
      const { classifyCheckInput } = await import('../../kernel/check/check-inputs.ts');
      const subject = await classifyCheckInput(input);
      if (subject.kind === 'config') {
        const { readKernelConfig } = await import('../../kernel/config/index.ts');
        const report = flavorLib.checkConfig(await readKernelConfig(input, { whole: true }), flavors);
        const render = {
          text: flavorLib.renderCheckText,
          json: flavorLib.renderCheckJson,
          github: flavorLib.renderCheckGithub,
          junit: flavorLib.renderCheckJunit,
        }[format];
        process.stdout.write(render(report));
        return report.ok ? 0 : 1;
      }
      const check = await import('../../kernel/check/index.ts');
      if (subject.kind === 'image') {
        const report = await check.checkKernelImage(subject.path, flavors);
        process.stdout.write(check.renderImageCheck(report, format));
        return report.ok ? 0 : 1;
      }
      const { parseArchOption } = await import('../../kernel/artifact/kernel-platform.ts');
      const result = await check.checkReference(subject.reference, {
        flavors,
        ...(options.arch === undefined ? {} : { arch: parseArchOption(options.arch) }),
        transport: { ...transportOptions(options), sources: mirrorSources(options) },
      });
      process.stdout.write(check.renderReferenceCheck(result, format));
      return result.ok ? 0 : 1;
    }),
  );
}
