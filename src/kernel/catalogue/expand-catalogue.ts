import { basename, isAbsolute, resolve } from 'node:path';
import { KartError } from '../../errors.ts';
import type { KernelArch } from '../image/types.ts';
import { isValidTag } from '../tags/tag-name.ts';
import { expandPattern } from './catalogue-pattern.ts';
import type { Catalogue, PublishJob } from './types.ts';

const OCI_ARCH: Readonly<Record<KernelArch, string>> = { x86_64: 'amd64', aarch64: 'arm64' };

/**
 * The publish jobs a catalogue stands for, in order: entries as listed, then each entry's flavors as
 * listed, then its arches as listed (so one flavor's arches publish together and merge into one index).
 * Placeholders expand per job; {flavor} is the flavor's name (a flavor file's name without .ini).
 * Throws CATALOGUE_INVALID naming the entry's line when an expanded tag is not a valid OCI tag.
 */
export function expandCatalogue(catalogue: Catalogue): PublishJob[] {
  const jobs: PublishJob[] = [];
  for (const entry of catalogue.entries) {
    for (const flavor of entry.flavors) {
      for (const arch of entry.arches) {
        const values = {
          version: entry.version,
          flavor: basename(flavor).replace(/\.ini$/, ''),
          arch,
          ociArch: OCI_ARCH[arch],
        };
        const build = expandPattern(entry.build, values);
        const tags = entry.tags.map((pattern) => {
          const tag = expandPattern(pattern, values);
          if (!isValidTag(tag)) {
            throw new KartError(
              'CATALOGUE_INVALID',
              `${catalogue.source}:${entry.line}: [${entry.version}] tag "${pattern}" gives "${tag}" for ${values.flavor}/${arch}, which is not a valid OCI tag`,
              {
                exitCode: 2,
                hint: 'a tag is 1-128 characters of letters, digits, "_", "." and "-", and does not start with "." or "-"',
                details: { file: catalogue.source, line: entry.line, tag },
              },
            );
          }
          return tag;
        });
        jobs.push({
          version: entry.version,
          flavor,
          arch,
          buildDir:
            catalogue.directory !== undefined && !isAbsolute(build)
              ? resolve(catalogue.directory, build)
              : build,
          tags: [...new Set(tags)],
          noAlias: !entry.aliases,
          origin: `${catalogue.source}:${entry.line}`,
        });
      }
    }
  }
  return jobs;
}
