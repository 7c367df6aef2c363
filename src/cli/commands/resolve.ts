import type { Command } from 'commander';
import { action, printJson, printLine } from '../output.ts';
import { addRegistryOptions, targetOptions, type RegistryCliOptions } from '../registry-options.ts';

/** `kart resolve REF`: the digest a tag names (HEAD first, so it does not count as a pull). */
export function register(program: Command): void {
  addRegistryOptions(
    program
      .command('resolve')
      .description('print the digest of the manifest or index a reference names')
      .argument('<ref>', '[HOST/]REPO:TAG or oci:DIR:TAG'),
  ).action(
    action(async (ref: string, options: RegistryCliOptions) => {
      const { openReference } = await import('../../registry/index.ts');
      const { withDefaultTag, formatReference } = await import('../../oci/reference.ts');
      const opened = await openReference(ref, targetOptions(options));
      try {
        const reference = withDefaultTag(opened.reference);
        const desc = await opened.target.resolve(reference.digest ?? reference.tag!);
        if (options.json) {
          printJson({
            reference: formatReference(reference),
            digest: desc.digest,
            mediaType: desc.mediaType,
            size: desc.size,
          });
        } else printLine(desc.digest);
      } finally {
        await opened.close();
      }
    }),
  );
}
