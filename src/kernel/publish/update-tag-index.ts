import { setTimeout as delay } from 'node:timers/promises';
import { KartError } from '../../errors.ts';
import { canUpdateTag, type Descriptor, type Target } from '../../oci/index.ts';
import { pushBytes } from '../../oci/manifest-io.ts';
import { resolveIfPresent } from '../../oci/resolve-if-present.ts';
import { backoffDelay } from '../../oci/backoff.ts';
import { holdsEntry, mergePlatformEntry, readTagIndex } from '../artifact/tag-index.ts';

/**
 * Puts one platform manifest into a tag's multi-arch index: read, merge, write, then read back.
 * Registries offer no compare-and-swap on tags, so two publishers of different arches can race: both
 * read the index without the other's arch, and the later write drops the earlier one. Two guards:
 *   - just before writing, the tag must still name what was merged from (else: read again);
 *   - after writing, the tag must hold this platform manifest (else another writer overwrote it: read
 *     again, which now includes theirs, and write the merge).
 * Together they leave a window of one request between the check and the write; publishKernel closes
 * most of what remains with a final pass over all tags (tagsMissingEntry), and fails with
 * PUBLISH_INDEX_CONFLICT rather than report success while a tag still lacks its platform. No platform
 * is ever dropped by kart itself: every write is a merge of the index as last read. A store that can
 * move a tag as one step (TagUpdater: a layout, under its lock) gets a single read-merge-write instead,
 * with no window.
 */
export interface TagIndexUpdate {
  tag: string;
  /** The index digest before (undefined: the tag is new). */
  previous: string | undefined;
  /** The index digest the tag names after the update. */
  next: string;
  action: 'create' | 'move' | 'unchanged';
  /** Platforms in the final index, as os/arch. */
  platforms: string[];
  /** How many read-merge-write rounds it took (1 without a race). */
  attempts: number;
}

export interface UpdateTagIndexOptions {
  /** Rounds before giving up with PUBLISH_INDEX_CONFLICT. Default 8. */
  maxAttempts?: number;
  /** Called before each retry, for progress. */
  onRetry?: (tag: string, attempt: number) => void;
}

export const DEFAULT_INDEX_ATTEMPTS = 8;

export async function updateTagIndex(
  target: Target,
  tag: string,
  entry: Descriptor,
  options: UpdateTagIndexOptions = {},
): Promise<TagIndexUpdate> {
  if (canUpdateTag(target)) {
    // A store that moves tags atomically (a layout, under its lock): one read-merge-write, no race.
    let previous: string | undefined;
    let entries: readonly Descriptor[] = [];
    const next = await target.updateTag(tag, async (current) => {
      previous = current?.digest;
      const merged = mergePlatformEntry((await readTagIndex(target, tag)).entries, entry);
      entries = merged.index.manifests;
      if (merged.descriptor.digest !== previous) await pushBytes(target, merged.descriptor, merged.bytes);
      return merged.descriptor;
    });
    return result(tag, previous, next.digest, entries, 1);
  }
  const maxAttempts = options.maxAttempts ?? DEFAULT_INDEX_ATTEMPTS;
  let firstPrevious: string | undefined;
  for (let attempt = 1; attempt <= maxAttempts; attempt++) {
    if (attempt > 1) {
      options.onRetry?.(tag, attempt);
      // Jitter so two racing publishers do not stay in lock step.
      await delay(backoffDelay({ firstMs: 20, maxMs: 500, jitter: 0.75 }, attempt - 2));
    }
    const read = await readTagIndex(target, tag);
    if (attempt === 1) firstPrevious = read.root?.digest;
    const merged = mergePlatformEntry(read.entries, entry);
    if (read.root?.digest === merged.descriptor.digest) {
      return result(tag, firstPrevious, merged.descriptor.digest, merged.index.manifests, attempt);
    }
    const now = await resolveIfPresent(target, tag);
    if (now?.digest !== read.root?.digest) continue;
    await pushBytes(target, merged.descriptor, merged.bytes);
    await target.tag(merged.descriptor, tag);
    const after = await readTagIndex(target, tag);
    if (after.root !== undefined && holdsEntry(after.entries, entry)) {
      return result(tag, firstPrevious, after.root.digest, after.entries, attempt);
    }
  }
  throw new KartError(
    'PUBLISH_INDEX_CONFLICT',
    `${target.name}:${tag}: the index kept changing while publishing into it (${maxAttempts} attempts)`,
    {
      exitCode: 3,
      hint: 'another publisher is writing the same tags; run publish again (it is idempotent)',
      details: { tag, attempts: maxAttempts },
    },
  );
}

function result(
  tag: string,
  previous: string | undefined,
  next: string,
  entries: readonly Descriptor[],
  attempts: number,
): TagIndexUpdate {
  return {
    tag,
    previous,
    next,
    action: previous === undefined ? 'create' : previous === next ? 'unchanged' : 'move',
    platforms: entries.map((e) => `${e.platform?.os ?? '?'}/${e.platform?.architecture ?? '?'}`),
    attempts,
  };
}

/**
 * The tags among `tags` whose index does not hold `entry` now: what a concurrent writer overwrote
 * after this publisher's own check. publishKernel updates those again.
 */
export async function tagsMissingEntry(
  target: Target,
  tags: readonly string[],
  entry: Descriptor,
): Promise<string[]> {
  const missing: string[] = [];
  for (const tag of tags) {
    const state = await readTagIndex(target, tag);
    if (!holdsEntry(state.entries, entry)) missing.push(tag);
  }
  return missing;
}
