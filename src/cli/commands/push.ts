import type { Command } from 'commander';
import { action } from '../output.ts';
import { addConcurrencyOption, addRegistryOptions, type RegistryCliOptions } from '../registry-options.ts';
import { runCopy } from './copy.ts';
import { addQuietOption } from '../transfer-display.ts';

/** `kart push oci:DIR:TAG REF`: the copy from a layout to a registry (or to another layout). */
export function register(program: Command): void {
  addConcurrencyOption(
    addRegistryOptions(
      addQuietOption(program.command('push'))
        .description('push an image or index from an OCI layout to a registry (or another layout)')
        .argument('<layout>', 'oci:DIR:TAG or oci:DIR@DIGEST')
        .argument('<ref>', '[HOST/]REPO[:TAG] or oci:DIR[:TAG] (tag defaults to the layout tag)')
        .option('--referrers', 'also copy artifacts attached to the image'),
    ),
    'blobs uploaded',
  ).action(
    action(async (layout: string, ref: string, options: RegistryCliOptions) => {
      const { KartError } = await import('../../errors.ts');
      if (!layout.startsWith('oci:')) {
        throw new KartError('PUSH_USAGE', `kart push copies from an OCI layout, got "${layout}" → "${ref}"`, {
          hint: 'write kart push oci:DIR:TAG HOST/REPO:TAG, or use kart copy from a registry',
        });
      }
      await runCopy(layout, ref, options);
    }),
  );
}
