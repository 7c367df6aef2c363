import { expandCatalogue, readCatalogueFile, type PublishJob } from '../catalogue/index.ts';
import { publishKernel, type PublishKernelOptions, type PublishResult } from './publish-kernel.ts';

/**
 * `kart publish --catalogue FILE`: every job of the catalogue (entries in order, then flavors, then
 * arches), one publishKernel each, stopping at the first failure. The summary says what was published,
 * what failed and why, and what was not tried, so a maintainer knows where to pick up.
 */
export type CatalogueJobOutcome =
  | { job: PublishJob; status: 'published'; result: PublishResult }
  | { job: PublishJob; status: 'failed'; error: unknown }
  | { job: PublishJob; status: 'skipped' };

export interface CatalogueSummary {
  catalogue: string;
  ok: boolean;
  outcomes: CatalogueJobOutcome[];
}

/** Options that apply to every job; build, flavor, version, arch, tags and aliases come from the catalogue. */
export type PublishCatalogueOptions = Omit<
  PublishKernelOptions,
  'flavor' | 'version' | 'arch' | 'buildDir' | 'kernel' | 'config' | 'addons' | 'modules' | 'tags' | 'noAlias'
> & {
  /** Called before each job, for progress. */
  onJob?: (job: PublishJob, index: number, total: number) => void;
};

export async function publishCatalogue(
  file: string,
  options: PublishCatalogueOptions,
): Promise<CatalogueSummary> {
  const catalogue = await readCatalogueFile(file);
  const jobs = expandCatalogue(catalogue);
  const outcomes: CatalogueJobOutcome[] = [];
  let failed = false;
  for (const [i, job] of jobs.entries()) {
    if (failed) {
      outcomes.push({ job, status: 'skipped' });
      continue;
    }
    options.onJob?.(job, i, jobs.length);
    try {
      const result = await publishKernel({
        ...options,
        flavor: job.flavor,
        version: job.version,
        arch: job.arch,
        buildDir: job.buildDir,
        tags: job.tags,
        noAlias: job.noAlias,
      });
      outcomes.push({ job, status: 'published', result });
    } catch (error) {
      failed = true;
      outcomes.push({ job, status: 'failed', error });
    }
  }
  return { catalogue: catalogue.source, ok: !failed, outcomes };
}
