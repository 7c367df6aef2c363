import type { Descriptor } from '../../oci/schema.ts';
import type { Target } from '../../oci/store.ts';
import { mergePlatformEntry, readTagIndex } from '../artifact/tag-index.ts';
import type { PlannedTag } from '../tags/policy.ts';
import type { PublishTag } from './publish-kernel.ts';
import { updateTagIndex, type UpdateTagIndexOptions } from './update-tag-index.ts';

/**
 * `publish --tag X` of a build that is already published: extra tags are part of the build's metadata
 * (KERNEL_TAGS), so the new manifest differs from the published one, and its immutable tag would have
 * to move. What the user asks for is the tag on the build that is there, so X is merged into its index
 * pointing at the published manifest, and nothing else changes (as `kart tag` would, per platform).
 * Returns each tag's change (planned only, for a dry run).
 */
/** The same record publish returns for each tag. */
export type PublishedTagChange = PublishTag;

export async function tagPublishedBuild(
  target: Target,
  extra: readonly PlannedTag[],
  published: Descriptor,
  options: UpdateTagIndexOptions & { dryRun: boolean },
): Promise<PublishedTagChange[]> {
  const changes: PublishedTagChange[] = [];
  for (const planned of extra) {
    const base = { tag: planned.tag, reason: planned.reason, immutable: planned.immutable };
    if (options.dryRun) {
      const state = await readTagIndex(target, planned.tag);
      const merged = mergePlatformEntry(state.entries, published);
      const previous = state.root?.digest;
      const next = merged.descriptor.digest;
      changes.push({
        ...base,
        previous,
        next,
        action: previous === undefined ? 'create' : previous === next ? 'unchanged' : 'move',
        platforms: merged.index.manifests.map(
          (m) => `${m.platform?.os ?? '?'}/${m.platform?.architecture ?? '?'}`,
        ),
      });
      continue;
    }
    const update = await updateTagIndex(target, planned.tag, published, options);
    changes.push({
      ...base,
      previous: update.previous,
      next: update.next,
      action: update.action,
      platforms: update.platforms,
    });
  }
  return changes;
}
