import type { Digest } from '../../oci/digest.ts';
import type { Target } from '../../oci/store.ts';
import { MirroredRepository, type SourceSkip, type TagResolution } from './mirrored-repository.ts';
import { RepositoryStore } from '../repository.ts';

/**
 * What a pull reports about its sources, whatever store it read from: which one served a digest, the
 * sources it skipped, and whether a mirror (not the upstream) said what the tag names.
 */
export interface SourceReport {
  /** present when the upstream could not be reached and a mirror resolved the tag */
  tagResolution?: TagResolution;
  skippedSources: SourceSkip[];
}

/** `host/repository` that served `digest` to this pull (a plain repository serves everything it fetched). */
export function servedBy(target: Target | undefined, digest: Digest): string | undefined {
  if (target instanceof MirroredRepository) return target.servedBy(digest);
  return target instanceof RepositoryStore ? target.name : undefined;
}

export function sourceReport(target: Target | undefined): SourceReport {
  if (!(target instanceof MirroredRepository)) return { skippedSources: [] };
  return {
    ...(target.tagResolution === undefined ? {} : { tagResolution: target.tagResolution }),
    skippedSources: target.skipped(),
  };
}

/** The repository behind a pull source: itself, or a mirrored repository's upstream (mounts, referrers). */
export function upstreamRepository(target: Target): RepositoryStore | undefined {
  if (target instanceof RepositoryStore) return target;
  return target instanceof MirroredRepository ? target.upstream : undefined;
}
