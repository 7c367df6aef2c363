import type { Command } from 'commander';
import { action, printJson, printLine } from '../output.ts';
import { addRegistryOptions, targetOptions, type RegistryCliOptions } from '../registry-options.ts';

/** `kart tag REF TAG…`: point more tags at what REF names, in the same repository or layout. */
export function register(program: Command): void {
  addRegistryOptions(
    program
      .command('tag')
      .description('add tags to the manifest or index a reference names (same repository)')
      .argument('<ref>', '[HOST/]REPO:TAG|@DIGEST or oci:DIR:TAG|@DIGEST')
      .argument('<tags...>', 'new tags'),
  ).action(
    action(async (ref: string, tags: string[], options: RegistryCliOptions) => {
      const { openReference } = await import('../../registry/index.ts');
      const { KartError } = await import('../../errors.ts');
      const { formatReference, parseReference } = await import('../../oci/reference.ts');
      // Opened for pushing: the resolve and the tag writes share one pull,push token.
      const opened = await openReference(ref, { ...targetOptions(options), access: 'push' });
      try {
        if (opened.tagOrDigest === undefined) {
          throw new KartError('REFERENCE_INCOMPLETE', `"${ref}" names no tag or digest`, {
            hint: 'add :TAG or @DIGEST to the reference',
          });
        }
        // Validate every tag before writing any, so a typo leaves the repository untouched.
        for (const tag of tags)
          parseReference(formatReference({ ...opened.reference, tag, digest: undefined }));
        const desc = await opened.target.resolve(opened.tagOrDigest);
        for (const tag of tags) await opened.target.tag(desc, tag);
        if (options.json) printJson({ reference: ref, digest: desc.digest, tags });
        else printLine(desc.digest);
      } finally {
        await opened.close();
      }
    }),
  );
}
