import type { Command } from 'commander';
import { addMirrorOptions, mirrorSources, type MirrorFlags } from '../mirror-options.ts';
import { action, printJson, printLine } from '../output.ts';
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
  options: RegistryCliOptions & MirrorFlags,
): Promise<void> {
  const target = targetOptions(options);
  const { copyReference, transferProgress } = await import('../../registry/index.ts');
  const progress = transferProgress(process.stderr);
  const report = await copyReference(source, destination, {
    ...target,
    sources: mirrorSources(options),
    referrers: options.referrers === true,
    ...progress,
  });
  progress.finish();
  if (options.json) printJson(report);
  else printLine(`${report.digest}${report.tag ? ` ${report.tag}` : ''}`);
}

/** `kart copy SRC DST`: registry or layout at either end, every platform of an index. */
export function register(program: Command): void {
  addConcurrencyOption(
    addRegistryOptions(
      addMirrorOptions(
        program
          .command('copy')
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
