import { isKartError, KartError } from '../../errors.ts';
import { Limiter } from '../../oci/copy.ts';
import type { Descriptor, Digest, TagLister, Target } from '../../oci/index.ts';
import { openReference, type OpenTargetOptions } from '../../registry/open-target.ts';
import { ociArchOf, type OciKernelArch } from '../artifact/kernel-platform.ts';
import { expandCatalogue, readCatalogueFile } from '../catalogue/index.ts';
import { loadFlavor, type Flavor } from '../flavor/index.ts';
import { defaultRepositoryOf } from '../publish/publish-destination.ts';
import { checkResolved, ConfigCache, type ReferenceCheck } from './check-reference.ts';

/**
 * `kart audit REPO --flavor F`: every tag of a repository (all pages) checked the way `kart check REF`
 * checks one, through the config layer alone. Tags are resolved with a HEAD each, grouped by digest,
 * and each distinct digest is checked once; a config layer shared by several digests is downloaded
 * once (one ConfigCache for the whole audit). At most `concurrency` tags or digests are in flight.
 *
 * With a catalogue, REPO is the registry the catalogue publishes to (as `kart publish --catalogue F
 * --registry REPO`), and each job's version and extra tags are audited on its flavor's repository,
 * for its arch only, against `flavors` or, when none is given, the job's own flavor.
 */
export interface AuditOptions {
  /** the flavors every kernel must meet (with a catalogue, optional: each job's own flavor then) */
  flavors: Flavor[];
  arch?: OciKernelArch;
  /** tags resolved or digests checked at once (default 4) */
  concurrency?: number;
  transport?: OpenTargetOptions;
  /** a publish catalogue file: audit what it says was published */
  catalogue?: string;
}

export type AuditResult = 'ok' | 'failed' | 'lies' | 'unchecked' | 'missing' | 'error';

export interface AuditRow {
  /** the repository (differs between rows of a catalogue audit only) */
  repository: string;
  tag: string;
  /** e.g. linux/amd64; empty when the tag could not be checked at all */
  platform: string;
  /** what the tag names */
  digest?: Digest;
  result: AuditResult;
  /** the unmet requirements as `flavor: SYMBOL`, `KERNEL_CONFIG` when the metadata lies, or the error */
  failures: string[];
}

export interface AuditReport {
  repositories: string[];
  rows: AuditRow[];
  /** each distinct digest's check (the tags that name it listed there) */
  checks: Array<{
    repository: string;
    tags: string[];
    check?: ReferenceCheck;
    error?: { code: string; message: string };
  }>;
  summary: { tags: number; digests: number; rows: number; failed: number };
  ok: boolean;
}

interface AuditTarget {
  repository: string;
  /** tag → the arch to check (undefined: every platform) and the flavors */
  tags: Map<string, { arch: OciKernelArch | undefined; flavors: Flavor[] }>;
}

export async function auditRepository(repository: string, options: AuditOptions): Promise<AuditReport> {
  const limiter = new Limiter(options.concurrency ?? 4);
  const targets = options.catalogue === undefined ? undefined : await catalogueTargets(repository, options);
  const repositories: string[] = [];
  const rows: AuditRow[] = [];
  const checks: AuditReport['checks'] = [];
  let tagCount = 0;
  for (const planned of targets ?? [{ repository, tags: undefined }]) {
    repositories.push(planned.repository);
    const opened = await openReference(planned.repository, options.transport ?? {});
    try {
      const target = opened.target;
      const wanted = planned.tags ?? (await everyTag(target, planned.repository, options));
      tagCount += wanted.size;
      const resolved = await Promise.all(
        [...wanted.keys()].map((tag) => limiter.run(() => resolveTag(target, tag))),
      );
      // Group by what is checked: the digest, and (for a catalogue) the arch and flavors asked for.
      const groups = new Map<
        string,
        { root: Descriptor; tags: string[]; arch: OciKernelArch | undefined; flavors: Flavor[] }
      >();
      [...wanted.entries()].forEach(([tag, plan], i) => {
        const root = resolved[i];
        if (root === undefined) {
          rows.push({
            repository: planned.repository,
            tag,
            platform: '',
            result: 'missing',
            failures: ['tag not found'],
          });
          return;
        }
        const key = `${root.digest} ${plan.arch ?? '*'} ${plan.flavors.map((f) => f.file).join(',')}`;
        const group = groups.get(key);
        if (group === undefined)
          groups.set(key, { root, tags: [tag], arch: plan.arch, flavors: plan.flavors });
        else group.tags.push(tag);
      });
      const cache = new ConfigCache();
      const outcomes = await Promise.all(
        [...groups.values()].map((group) =>
          limiter.run(async () => {
            try {
              const reference = `${planned.repository}@${group.root.digest}`;
              const check = await checkResolved(
                target,
                reference,
                group.root,
                { flavors: group.flavors, ...(group.arch === undefined ? {} : { arch: group.arch }) },
                cache,
              );
              return { group, check };
            } catch (error) {
              // A registry or network failure ends the audit (exit 3); a kernel that cannot be
              // checked (no config, a damaged layer) is that row's result.
              if (!isKartError(error) || error.exitCode === 3) throw error;
              return { group, error };
            }
          }),
        ),
      );
      for (const { group, check, error } of outcomes) {
        checks.push({
          repository: planned.repository,
          tags: group.tags,
          ...(check === undefined ? {} : { check }),
          ...(error === undefined ? {} : { error: { code: error.code, message: error.message } }),
        });
        for (const tag of group.tags)
          rows.push(...rowsOf(planned.repository, tag, group.root.digest, check, error));
      }
    } finally {
      await opened.close();
    }
  }
  rows.sort(
    (a, b) => compare(a.repository, b.repository) || compare(a.tag, b.tag) || compare(a.platform, b.platform),
  );
  const failed = rows.filter((row) => row.result !== 'ok').length;
  return {
    repositories,
    rows,
    checks,
    summary: { tags: tagCount, digests: checks.length, rows: rows.length, failed },
    ok: failed === 0,
  };
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function rowsOf(
  repository: string,
  tag: string,
  digest: Digest,
  check: ReferenceCheck | undefined,
  error: KartError | undefined,
): AuditRow[] {
  if (check === undefined) {
    return [
      {
        repository,
        tag,
        platform: '',
        digest,
        result: 'error',
        failures: [`${error?.code}: ${error?.message}`],
      },
    ];
  }
  const unchecked = check.unchecked.map((platform) => ({
    repository,
    tag,
    platform: platform.platform,
    digest,
    result: 'unchecked' as const,
    failures: [`${platform.code}: ${platform.message}`],
  }));
  const checked = check.platforms.map((platform) => {
    const unmet = platform.report.flavors.flatMap((flavor) =>
      flavor.failures.map((failure) => `${flavor.flavor}: ${failure.symbol}`),
    );
    const failures = platform.metadataMatches ? unmet : ['KERNEL_CONFIG', ...unmet];
    return {
      repository,
      tag,
      platform: platform.platform,
      digest,
      result: !platform.metadataMatches
        ? ('lies' as const)
        : platform.report.ok
          ? ('ok' as const)
          : ('failed' as const),
      failures,
    };
  });
  return [...checked, ...unchecked];
}

async function everyTag(
  target: Target,
  repository: string,
  options: AuditOptions,
): Promise<AuditTarget['tags']> {
  // Which tags exist is the upstream's word: a mirror is asked for content, never for the tag list.
  const mirrored = (target as { upstream?: Target }).upstream;
  const lister = (mirrored ?? target) as Partial<TagLister>;
  if (typeof lister.tags !== 'function') {
    throw new KartError('TAGS_UNSUPPORTED', `${repository} cannot list its tags`, { exitCode: 2 });
  }
  const tags: AuditTarget['tags'] = new Map();
  for await (const tag of lister.tags()) tags.set(tag, { arch: options.arch, flavors: options.flavors });
  return tags;
}

async function resolveTag(target: Target, tag: string): Promise<Descriptor | undefined> {
  try {
    return await target.resolve(tag);
  } catch (error) {
    if (isKartError(error) && error.code === 'NOT_FOUND') return undefined;
    throw error;
  }
}

async function catalogueTargets(registry: string, options: AuditOptions): Promise<AuditTarget[]> {
  const jobs = expandCatalogue(await readCatalogueFile(options.catalogue as string));
  const byRepository = new Map<string, AuditTarget>();
  for (const job of jobs) {
    const flavor = await loadFlavor(job.flavor);
    const repository = `${registry.replace(/\/+$/, '')}/${defaultRepositoryOf(flavor)}`;
    const planned = byRepository.get(repository) ?? { repository, tags: new Map() };
    byRepository.set(repository, planned);
    const arch = ociArchOf(job.arch);
    if (options.arch !== undefined && options.arch !== arch) continue;
    const flavors = options.flavors.length > 0 ? options.flavors : [flavor];
    for (const tag of [job.version, ...job.tags]) {
      // One tag published for two arches (one index): check every platform it has.
      const earlier = planned.tags.get(tag);
      planned.tags.set(tag, {
        arch: earlier === undefined || earlier.arch === arch ? arch : undefined,
        flavors,
      });
    }
  }
  return [...byRepository.values()];
}
