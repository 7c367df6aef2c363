import type { Command } from 'commander';
import { action } from '../output.ts';
import { addRegistryOptions, runCopy, type RegistryCliOptions } from './copy.ts';

/** `kart pull REF oci:DIR[:TAG]`: the copy from a registry into a layout. */
export function register(program: Command): void {
  addRegistryOptions(
    program
      .command('pull')
      .description('pull an image or index (every platform) from a registry into an OCI layout')
      .argument('<ref>', '[HOST/]REPO:TAG or [HOST/]REPO@DIGEST')
      .argument('<layout>', 'oci:DIR[:TAG] (created when missing; tag defaults to the source tag)')
      .option('--referrers', 'also copy artifacts attached to the image')
      .option('--concurrency <n>', 'blobs downloaded at once', '4'),
  ).action(
    action(async (ref: string, layout: string, options: RegistryCliOptions) => {
      const { KartError } = await import('../../errors.ts');
      if (ref.startsWith('oci:') || !layout.startsWith('oci:')) {
        throw new KartError(
          'PULL_USAGE',
          `kart pull copies from a registry to an OCI layout, got "${ref}" → "${layout}"`,
          {
            hint: 'write kart pull HOST/REPO:TAG oci:DIR:TAG, or use kart copy for other directions',
          },
        );
      }
      await runCopy(ref, layout, options);
    }),
  );
}
