import { fetchBytes, pushBytes, pushJson } from '../oci/manifest-io.ts';
import { MediaType } from '../oci/media-types.ts';
import { resolveIfPresent } from '../oci/resolve-if-present.ts';
import type { Descriptor } from '../oci/schema.ts';
import { canUpdateTag, type Target } from '../oci/store.ts';
import {
  emptyReferrersIndex,
  parseReferrersIndex,
  referrerDescriptor,
  referrersTag,
  withReferrer,
} from './referrers.ts';
import { RepositoryStore } from './repository.ts';

/**
 * Referrers on any store. A registry repository already does both halves (its `referrers()` asks the
 * API and falls back to the `<alg>-<hex>` tag; pushing a manifest with a subject keeps that tag up to
 * date). A layout has no API, so kart keeps the same fallback index under the same tag there, under
 * the layout's lock: `oras` and cosign read layouts' referrers the same way.
 */
export async function listReferrers(target: Target, subject: Descriptor): Promise<Descriptor[]> {
  if (target instanceof RepositoryStore) return target.referrers(subject);
  const tag = referrersTag(subject.digest);
  const root = await resolveIfPresent(target, tag);
  if (root === undefined) return [];
  return parseReferrersIndex(await fetchBytes(target, root), `${target.name}:${tag}`).manifests;
}

/** Stores a manifest whose `subject` is `subject`, and lists it where readers look for referrers. */
export async function attachReferrer(
  target: Target,
  subject: Descriptor,
  manifest: { descriptor: Descriptor; bytes: Buffer },
): Promise<void> {
  await pushBytes(target, manifest.descriptor, manifest.bytes);
  await listReferrer(target, subject, manifest);
}

/**
 * Lists a stored manifest in `subject`'s fallback index where the store does not do it itself (a
 * layout; a registry repository keeps it on push).
 */
export async function listReferrer(
  target: Target,
  subject: Descriptor,
  manifest: { descriptor: Descriptor; bytes: Buffer },
): Promise<void> {
  if (target instanceof RepositoryStore) return;
  const entry = referrerDescriptor(manifest.descriptor, manifest.bytes);
  const tag = referrersTag(subject.digest);
  const merge = async (current: Descriptor | undefined): Promise<Descriptor> => {
    const index =
      current === undefined
        ? emptyReferrersIndex()
        : parseReferrersIndex(await fetchBytes(target, current), `${target.name}:${tag}`);
    return (await pushJson(target, MediaType.OciIndex, withReferrer(index, entry))).descriptor;
  };
  if (canUpdateTag(target)) {
    await target.updateTag(tag, merge);
    return;
  }
  const current = await resolveIfPresent(target, tag);
  await target.tag(await merge(current), tag);
}
