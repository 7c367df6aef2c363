import type { Command } from 'commander';
import type { TagLister } from '../../oci/store.ts';
import { action, printJson, printLine } from '../output.ts';
import { addRegistryOptions, targetOptions, type RegistryCliOptions } from '../registry-options.ts';

/** `kart tags REPO`: every tag, one a line, in lexical order. */
export function register(program: Command): void {
  addRegistryOptions(
    program
      .command('tags')
      .description('list the tags of a repository or layout, in lexical order')
      .argument('<repo>', '[HOST/]REPO or oci:DIR'),
  ).action(
    action(async (repo: string, options: RegistryCliOptions) => {
      const { openReference } = await import('../../registry/index.ts');
      const opened = await openReference(repo, targetOptions(options));
      try {
        const lister = opened.target as Partial<TagLister>;
        if (typeof lister.tags !== 'function') {
          const { KartError } = await import('../../errors.ts');
          throw new KartError('TAGS_UNSUPPORTED', `${opened.target.name} cannot list its tags`, {
            exitCode: 2,
          });
        }
        const tags: string[] = [];
        for await (const tag of lister.tags()) tags.push(tag);
        if (options.json) printJson({ repository: repo, tags });
        else for (const tag of tags) printLine(tag);
      } finally {
        await opened.close();
      }
    }),
  );
}
