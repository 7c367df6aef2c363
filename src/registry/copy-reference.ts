import { KartError } from '../errors.ts';
import { copy, copyGraph, type CopyHooks } from '../oci/copy.ts';
import { fetchManifest } from '../oci/manifest-io.ts';
import { isManifestMediaType } from '../oci/media-types.ts';
import type { Descriptor } from '../oci/schema.ts';
import type { Target } from '../oci/store.ts';
import { openReference, type OpenTargetOptions } from './open-target.ts';
import { upstreamRepository } from './mirrors/source-report.ts';
import { RepositoryStore } from './repository.ts';

/**
 * `kart copy/push/pull` as one library call: opens both ends (layout or registry), copies the graph
 * the source reference names (every platform of an index), tags it at the destination, and with
 * `referrers` carries along the artifacts attached to each manifest. Between two repositories of the
 * same registry, blobs are mounted instead of uploaded.
 */
export interface CopyReferenceOptions extends OpenTargetOptions, CopyHooks {
  concurrency?: number;
  /** Also copy the referrers (signatures, SBOMs, …) of every manifest copied. */
  referrers?: boolean;
}

export interface CopyReport {
  source: string;
  destination: string;
  digest: string;
  mediaType: string;
  size: number;
  /** the tag written at the destination, if any */
  tag: string | undefined;
  /** blobs and manifests sent, found already there, mounted */
  copied: number;
  skipped: number;
  mounted: number;
  /** bytes sent (mounted and skipped content excluded) */
  bytes: number;
  referrers: string[];
}

export async function copyReference(
  source: string,
  destination: string,
  options: CopyReferenceOptions = {},
): Promise<CopyReport> {
  const src = await openReference(source, { ...options, access: 'pull' });
  try {
    // The destination is opened for pushing: every request to it asks pull,push (one token).
    const dst = await openReference(destination, { ...options, create: true, access: 'push' });
    try {
      if (src.tagOrDigest === undefined) {
        throw new KartError('REFERENCE_INCOMPLETE', `source "${source}" names no tag or digest`, {
          hint: 'add :TAG or @DIGEST to the source reference',
        });
      }
      // Refused before anything is copied, not after the image went over without its referrers.
      if (options.referrers) referrersSource(src.target);
      const report: CopyReport = {
        source,
        destination,
        digest: '',
        mediaType: '',
        size: 0,
        tag: undefined,
        copied: 0,
        skipped: 0,
        mounted: 0,
        bytes: 0,
        referrers: [],
      };
      let mountedBytes = 0;
      const srcRepository = upstreamRepository(src.target);
      if (
        srcRepository !== undefined &&
        dst.target instanceof RepositoryStore &&
        srcRepository.host === dst.target.host
      ) {
        dst.target.mountFrom(srcRepository.repository);
        dst.target.onPush = (desc, how) => {
          if (how !== 'mounted') return;
          report.mounted++;
          mountedBytes += desc.size;
        };
      }
      const hooks: CopyHooks = {
        onCopyStart: (desc) => options.onCopyStart?.(desc),
        onCopyDone: (desc) => {
          report.copied++;
          report.bytes += desc.size;
          return options.onCopyDone?.(desc);
        },
        onCopySkipped: (desc) => {
          report.skipped++;
          return options.onCopySkipped?.(desc);
        },
      };
      const dstRef = dst.tagOrDigest ?? src.reference.tag ?? src.tagOrDigest;
      const root = await copy(src.target, src.tagOrDigest, dst.target, dstRef, {
        ...hooks,
        concurrency: options.concurrency,
      });
      if (options.referrers) {
        report.referrers = await copyReferrers(src.target, dst.target, root, {
          ...hooks,
          concurrency: options.concurrency,
        });
      }
      report.copied -= report.mounted;
      report.bytes -= mountedBytes;
      report.digest = root.digest;
      report.mediaType = root.mediaType;
      report.size = root.size;
      report.tag = dstRef === root.digest ? undefined : dstRef;
      return report;
    } finally {
      await dst.close();
    }
  } finally {
    await src.close();
  }
}

/** Copies the referrers of `root` and of every manifest under it (and theirs, in turn). */
async function copyReferrers(
  src: Target,
  dst: Target,
  root: Descriptor,
  hooks: CopyHooks & { concurrency?: number },
): Promise<string[]> {
  const registry = referrersSource(src);
  const copied: string[] = [];
  const seen = new Set<string>();
  const queue: Descriptor[] = [root];
  while (queue.length > 0) {
    const subject = queue.shift()!;
    if (seen.has(subject.digest)) continue;
    seen.add(subject.digest);
    const fetched = await fetchManifest(src, subject);
    if (fetched.kind === 'index')
      queue.push(...fetched.index.manifests.filter((m) => isManifestMediaType(m.mediaType)));
    for (const referrer of await registry.referrers(subject)) {
      await copyGraph(src, dst, referrer, hooks);
      copied.push(referrer.digest);
      queue.push(referrer);
    }
  }
  return copied;
}

/** The source as a store that lists referrers (a registry repository), else REFERRERS_UNSUPPORTED. */
function referrersSource(src: Target): RepositoryStore {
  const repository = upstreamRepository(src);
  if (repository !== undefined) return repository;
  throw new KartError(
    'REFERRERS_UNSUPPORTED',
    `--referrers: the source ${src.name} is not a registry; layouts do not list referrers`,
    {
      hint: 'copy referrers from a registry source, or copy without --referrers',
    },
  );
}
