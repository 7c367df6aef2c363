import { KartError } from '../errors.ts';
import { copy, copyGraph, type CopyGraphOptions, type CopyHooks } from '../oci/copy.ts';
import { fetchBytes, fetchManifest } from '../oci/manifest-io.ts';
import { isManifestMediaType } from '../oci/media-types.ts';
import { resolveIfPresent } from '../oci/resolve-if-present.ts';
import type { Descriptor } from '../oci/schema.ts';
import type { Target } from '../oci/store.ts';
import { successors } from '../oci/successors.ts';
import type { TransferOptions } from '../oci/transfer-observer.ts';
import { openReference, type OpenTargetOptions } from './open-target.ts';
import { legacySignatureTag } from './referrers.ts';
import { listReferrer } from './store-referrers.ts';
import { upstreamRepository } from './mirrors/source-report.ts';
import { RepositoryStore } from './repository.ts';

/**
 * `kart copy/push/pull` as one library call: opens both ends (layout or registry), copies the graph
 * the source reference names (every platform of an index), tags it at the destination, and with
 * `referrers` carries along the artifacts attached to each manifest. Between two repositories of the
 * same registry, blobs are mounted instead of uploaded.
 */
export interface CopyReferenceOptions extends OpenTargetOptions, CopyHooks, TransferOptions {
  concurrency?: number;
  /** Also copy the referrers (signatures, SBOMs, …) of every manifest copied. */
  referrers?: boolean;
  /** Referrers of referrers are followed this deep (a signature of an SBOM is 2); default 8. */
  maxReferrerDepth?: number;
  /** At most this many referrers are copied; default 1000. */
  maxReferrers?: number;
}

/** A registry can invent referrers without end; a real graph of signatures and SBOMs is small. */
const DEFAULT_MAX_REFERRER_DEPTH = 8;
const DEFAULT_MAX_REFERRERS = 1000;

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
      const mountFrom =
        srcRepository !== undefined &&
        dst.target instanceof RepositoryStore &&
        srcRepository.host === dst.target.host
          ? srcRepository.repository
          : undefined;
      // Every request to the destination then asks for pull on the source too: one token for all.
      if (mountFrom !== undefined && dst.target instanceof RepositoryStore) dst.target.mountFrom(mountFrom);
      const hooks: CopyGraphOptions = {
        mountFrom,
        onMounted: (desc) => {
          report.mounted++;
          mountedBytes += desc.size;
        },
        signal: options.signal,
        onTransfer: options.onTransfer,
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
        report.referrers = await copyReferrers(
          src.target,
          dst.target,
          root,
          { ...hooks, concurrency: options.concurrency },
          {
            depth: options.maxReferrerDepth ?? DEFAULT_MAX_REFERRER_DEPTH,
            count: options.maxReferrers ?? DEFAULT_MAX_REFERRERS,
          },
        );
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
  hooks: CopyGraphOptions,
  limits: { depth: number; count: number },
): Promise<string[]> {
  const registry = referrersSource(src);
  const copied: string[] = [];
  const seen = new Set<string>();
  // depth: 0 for the image's own manifests, n for a referrer n links away from them
  const queue: { desc: Descriptor; depth: number }[] = [{ desc: root, depth: 0 }];
  while (queue.length > 0) {
    const { desc: subject, depth } = queue.shift()!;
    if (seen.has(subject.digest)) continue;
    seen.add(subject.digest);
    // An image's own manifests (an index's children) are subjects at the same depth as it.
    for (const child of successors(await fetchManifest(src, subject))) {
      if (isManifestMediaType(child.mediaType)) queue.push({ desc: child, depth });
    }
    for (const referrer of await registry.referrers(subject)) {
      if (seen.has(referrer.digest)) continue;
      if (depth + 1 > limits.depth) throw referrersTooMany(subject, `a chain deeper than ${limits.depth}`);
      if (copied.length >= limits.count) throw referrersTooMany(subject, `more than ${limits.count}`);
      await copyGraph(src, dst, referrer, hooks);
      // A layout lists referrers only in the fallback index, which copyGraph does not write.
      if (!(dst instanceof RepositoryStore))
        await listReferrer(dst, subject, { descriptor: referrer, bytes: await fetchBytes(src, referrer) });
      copied.push(referrer.digest);
      queue.push({ desc: referrer, depth: depth + 1 });
    }
    // cosign's legacy signatures are a tag, not a referrer: carried under the same tag.
    const legacyTag = legacySignatureTag(subject.digest);
    const legacy = await resolveIfPresent(src, legacyTag);
    if (legacy !== undefined) {
      await copy(src, legacyTag, dst, legacyTag, hooks);
      copied.push(legacy.digest);
    }
  }
  return copied;
}

function referrersTooMany(subject: Descriptor, what: string): KartError {
  return new KartError(
    'REFERRERS_TOO_MANY',
    `--referrers: the source reports ${what} referrers (at ${subject.digest})`,
    {
      exitCode: 3,
      hint: 'the registry keeps inventing referrers; copy without --referrers, or raise the limit in the library call',
    },
  );
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
