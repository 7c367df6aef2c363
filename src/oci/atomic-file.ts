import { randomBytes } from 'node:crypto';
import { open, rename, unlink } from 'node:fs/promises';
import { dirname, basename, join } from 'node:path';

/**
 * Replacing a small file so that a reader (or a crash) only ever sees the old bytes or the new ones:
 * write a sibling temp file, fsync it, rename over the target (atomic within one filesystem), then
 * fsync the directory so the rename itself survives a power cut.
 */
export async function writeFileAtomic(path: string, bytes: Uint8Array | string): Promise<void> {
  const temp = tempSiblingPath(path);
  const handle = await open(temp, 'wx', 0o644);
  try {
    await handle.writeFile(bytes);
    await handle.sync();
  } catch (error) {
    await handle.close().catch(() => undefined);
    await unlink(temp).catch(() => undefined);
    throw error;
  }
  await handle.close();
  try {
    await rename(temp, path);
  } catch (error) {
    await unlink(temp).catch(() => undefined);
    throw error;
  }
  await syncDirectory(dirname(path));
}

/** A unique name beside `path` (same directory, so same filesystem, so rename is atomic). */
export function tempSiblingPath(path: string): string {
  return join(dirname(path), `.${basename(path)}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`);
}

/** fsync on a directory makes renames and creations inside it durable; not every platform allows it. */
export async function syncDirectory(dir: string): Promise<void> {
  let handle;
  try {
    handle = await open(dir, 'r');
    await handle.sync();
  } catch {
    // Some filesystems refuse fsync on directories (EINVAL/EISDIR); durability is then best effort.
  } finally {
    await handle?.close().catch(() => undefined);
  }
}
