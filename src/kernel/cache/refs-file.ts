import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { writeFileAtomic } from '../../oci/atomic-file.ts';
import { withLayoutLock } from '../../oci/layout-lock.ts';
import { array, int, literal, object, optional, record, string, type Infer } from '../../oci/json-shape.ts';
import { DigestSchema, parseJson } from '../../oci/schema.ts';

/**
 * refs.json beside the cache's OCI layout: for each reference, the root digests (index or manifest)
 * it resolved to, newest first, and the one last pulled successfully. Tags move, so the layout's own
 * index.json (which names things by tag) cannot hold this; blobs stay content-addressed in the layout.
 * Updated read-modify-write under the layout's index lock and replaced by rename, so concurrent pulls
 * never lose each other's entries and a crash never leaves half a file.
 */
export const REFS_FILE_NAME = 'refs.json';

const RootSchema = object({
  digest: DigestSchema,
  mediaType: string(),
  size: int({ min: 0 }),
  /**
   * ISO time the reference was seen resolving to this digest when it became the newest: a pull that
   * finds the tag unchanged leaves it, so a warm pull writes nothing
   */
  seenAt: string(),
});
export type CachedRoot = Infer<typeof RootSchema>;

const ReferenceEntrySchema = object({
  /** distinct digests, newest first */
  history: array(RootSchema),
  /** the digest of the last pull that installed successfully (what --offline uses) */
  pulled: optional(RootSchema),
});
export type CachedReference = Infer<typeof ReferenceEntrySchema>;

const RefsSchema = object({
  version: literal(1),
  references: record(ReferenceEntrySchema),
});
export type Refs = Infer<typeof RefsSchema>;

/**
 * refs.json, or an empty one when it is missing, or damaged: a damaged file would fail every pull,
 * while what it held (which digests a tag named) is learned again by the next pull; `notices` says so.
 */
export async function readRefs(root: string, notices?: string[]): Promise<Refs> {
  const path = join(root, REFS_FILE_NAME);
  let bytes: Buffer;
  try {
    bytes = await readFile(path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return { version: 1, references: {} };
    throw error;
  }
  try {
    return parseJson(RefsSchema, bytes, path);
  } catch (error) {
    notices?.push(
      `${path} was damaged (${(error as Error).message}); it is discarded: the cached blobs stay, and references are learned again by the next pull`,
    );
    return { version: 1, references: {} };
  }
}

/** Changes refs.json under the cache lock; `change` edits the parsed copy in place. */
export async function updateRefs(
  root: string,
  change: (refs: Refs) => void,
  notices?: string[],
): Promise<Refs> {
  return withLayoutLock(root, () => changeRefsLocked(root, change, notices));
}

/**
 * updateRefs for a caller that already holds the cache lock. A change that leaves the records as they
 * were writes nothing: a warm pull would otherwise replace the file twice (4 fsyncs) to say the same.
 */
export async function changeRefsLocked(
  root: string,
  change: (refs: Refs) => void,
  notices?: string[],
): Promise<Refs> {
  const refs = await readRefs(root, notices);
  const before = JSON.stringify(refs);
  change(refs);
  if (JSON.stringify(refs) !== before) {
    await writeFileAtomic(join(root, REFS_FILE_NAME), `${JSON.stringify(refs, null, 2)}\n`);
  }
  return refs;
}

/** Puts `seen` at the head of the reference's history (once); a digest already there keeps its record. */
export function noteSeen(refs: Refs, reference: string, seen: CachedRoot): void {
  const entry = refs.references[reference] ?? { history: [] };
  if (entry.history[0]?.digest === seen.digest) return;
  entry.history = [seen, ...entry.history.filter((root) => root.digest !== seen.digest)];
  refs.references[reference] = entry;
}

/** Notes `root` as the reference's last successful pull (and its newest digest); the same one again keeps its record. */
export function notePulled(refs: Refs, reference: string, root: CachedRoot): void {
  noteSeen(refs, reference, root);
  const entry = refs.references[reference]!;
  if (entry.pulled?.digest !== root.digest) entry.pulled = entry.history[0];
}
