import type { Command } from 'commander';
import { addMirrorOptions, mirrorSources, type MirrorFlags } from '../mirror-options.ts';
import { action, printJson, printLine } from '../output.ts';
import { interruptSignal } from '../interrupt.ts';
import { addQuietOption, displayFor, type QuietOption } from '../transfer-display.ts';
import {
  addConcurrencyOption,
  addRegistryOptions,
  targetOptions,
  type RegistryCliOptions,
} from '../registry-options.ts';

/**
 * Runs a copy between two references and prints it: the digest (and tag) on stdout, or the JSON
 * report; progress lines on stderr only when stderr is a terminal.
 */
export async function runCopy(
  source: string,
  destination: string,
  options: RegistryCliOptions & QuietOption & MirrorFlags,
): Promise<void> {
  const target = targetOptions(options);
  const { copyReference } = await import('../../registry/copy-reference.ts');
  const display = displayFor(options);
  const report = await copyReference(source, destination, {
    ...target,
    sources: mirrorSources(options),
    referrers: options.referrers === true,
    signal: interruptSignal(),
    ...(display === undefined ? {} : { onTransfer: display.onTransfer }),
  }).finally(() => display?.finish());
  if (options.json) printJson(report);
  else printLine(`${report.digest}${report.tag ? ` ${report.tag}` : ''}`);
}

/** `kart copy SRC DST`: registry or layout at either end, every platform of an index. */
export function register(program: Command): void {
  addConcurrencyOption(
    addRegistryOptions(
      addMirrorOptions(
        addQuietOption(program.command('copy'))
          .description('copy an image or index (every platform) between registries and OCI layouts')
          .argument('<src>', 'source: [HOST/]REPO:TAG|@DIGEST or oci:DIR:TAG|@DIGEST')
          .argument(
            '<dst>',
            'destination: [HOST/]REPO[:TAG] or oci:DIR[:TAG] (tag defaults to the source tag)',
          )
          .option('--referrers', 'also copy artifacts attached to the image (signatures, SBOMs)'),
      ),
    ),
    'blobs transferred',
  ).action(
    action(async (src: string, dst: string, options: RegistryCliOptions & MirrorFlags) =>
      runCopy(src, dst, options),
    ),
  );
}
