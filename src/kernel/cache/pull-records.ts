import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { mkdir, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { currentOwner, ownerRunning } from '../../oci/process-owner.ts';
import { checkShape, int, object, optional, string, type Infer } from '../../oci/json-shape.ts';
import { DigestSchema, type Descriptor } from '../../oci/schema.ts';

/**
 * Pulls in progress, one small file each under `.kart-pulls/`: the root a pull is installing from.
 * A pull writes its file under the cache lock (in the same step that records the reference in
 * refs.json) and removes it when it ends; prune, under that same lock, keeps every root recorded here.
 * So whatever `--keep`, prune never deletes a blob that a running pull has stored or will read: refs.json
 * alone cannot promise that, since `--keep 0` forgets every digest but the last pulled one.
 *
 * A pull that was killed leaves its file behind. The file names its owner as a lock does (pid, start
 * time, boot, pid namespace): prune removes it once that process is gone, which it can tell only within
 * its own boot and pid namespace (a reused pid is told apart by its start time); a record of another
 * machine or container is removed once older than any pull takes. Until then it only keeps more blobs.
 */
export const PULLS_DIR = '.kart-pulls';

const FOREIGN_RECORD_MAX_AGE_MS = 24 * 60 * 60_000;

const PullRecordSchema = object({
  pid: int(),
  started: optional(int()),
  boot: optional(string()),
  pidns: optional(string()),
  host: string(),
  root: object({ mediaType: string(), digest: DigestSchema, size: int({ min: 0 }) }),
});
type PullRecord = Infer<typeof PullRecordSchema>;

/** Writes the record (call it under the cache lock); returns its path, to remove when the pull ends. */
export async function recordPull(cacheRoot: string, root: Descriptor): Promise<string> {
  const dir = join(cacheRoot, PULLS_DIR);
  await mkdir(dir, { recursive: true });
  const path = join(dir, `${process.pid}.${randomBytes(6).toString('hex')}.json`);
  const record = {
    ...currentOwner(),
    host: hostname(),
    root: { mediaType: root.mediaType, digest: root.digest, size: root.size },
  };
  // No fsync: a crash that loses the file also ended the pull it protects.
  await writeFile(path, JSON.stringify(record), { flag: 'wx' });
  return path;
}

/** The roots of pulls still running; removes the records of pulls that ended without removing theirs. */
export async function runningPullRoots(cacheRoot: string): Promise<Descriptor[]> {
  const dir = join(cacheRoot, PULLS_DIR);
  const roots: Descriptor[] = [];
  for (const name of await readdir(dir).catch(() => [] as string[])) {
    const path = join(dir, name);
    const record = await readRecord(path);
    if (record !== undefined && (await stillRunning(record, path))) {
      roots.push(record.root);
    } else {
      await rm(path, { force: true });
    }
  }
  return roots;
}

async function readRecord(path: string): Promise<PullRecord | undefined> {
  try {
    const parsed = checkShape(PullRecordSchema, JSON.parse(await readFile(path, 'utf8')));
    // Written whole under the lock this is read under: a broken one belongs to a pull killed mid-write.
    return parsed.ok ? parsed.value : undefined;
  } catch {
    return undefined;
  }
}

async function stillRunning(record: PullRecord, path: string): Promise<boolean> {
  const running = ownerRunning(record);
  if (running !== undefined) return running;
  const info = await stat(path).catch(() => undefined);
  return info !== undefined && Date.now() - info.mtimeMs < FOREIGN_RECORD_MAX_AGE_MS;
}
