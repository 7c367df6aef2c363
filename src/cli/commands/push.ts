import type { Command } from 'commander';
import { action } from '../output.ts';
import { addRegistryOptions, runCopy, type RegistryCliOptions } from './copy.ts';

/** `kart push oci:DIR:TAG REF`: the copy from a layout to a registry. */
export function register(program: Command): void {
  addRegistryOptions(
    program
      .command('push')
      .description('push an image or index from an OCI layout to a registry')
      .argument('<layout>', 'oci:DIR:TAG or oci:DIR@DIGEST')
      .argument('<ref>', '[HOST/]REPO[:TAG] (tag defaults to the layout tag)')
      .option('--referrers', 'also copy artifacts attached to the image')
      .option('--concurrency <n>', 'blobs uploaded at once', '4'),
  ).action(
    action(async (layout: string, ref: string, options: RegistryCliOptions) => {
      const { KartError } = await import('../../errors.ts');
      if (!layout.startsWith('oci:') || ref.startsWith('oci:')) {
        throw new KartError(
          'PUSH_USAGE',
          `kart push copies from an OCI layout to a registry, got "${layout}" → "${ref}"`,
          {
            hint: 'write kart push oci:DIR:TAG HOST/REPO:TAG, or use kart copy for other directions',
          },
        );
      }
      await runCopy(layout, ref, options);
    }),
  );
}
