import { randomBytes } from 'node:crypto';
import { lstat, open, readlink, rename, stat, unlink } from 'node:fs/promises';
import { dirname, basename, join, resolve } from 'node:path';
import { KartError } from '../errors.ts';

/**
 * Replacing a small file so that a reader (or a crash) only ever sees the old bytes or the new ones:
 * write a sibling temp file, fsync it, rename over the target (atomic within one filesystem), then
 * fsync the directory so the rename itself survives a power cut.
 *
 * A symlink at `path` is written through, as docker does with config.json: the file it names is
 * replaced and the link stays (a dotfiles repository's symlinked ~/.docker/config.json stays a link).
 * A device, FIFO, socket or directory there is refused (OUTPUT_NOT_REGULAR_FILE): renaming over
 * /dev/null would replace the device with a plain file.
 */
export async function writeFileAtomic(
  path: string,
  bytes: Uint8Array | string,
  options: { mode?: number } = {},
): Promise<void> {
  const target = await writableTarget(path);
  const temp = tempSiblingPath(target);
  const handle = await open(temp, 'wx', options.mode ?? 0o644);
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
    await rename(temp, target);
  } catch (error) {
    await unlink(temp).catch(() => undefined);
    throw error;
  }
  await syncDirectory(dirname(target));
}

/** The path a write to `path` replaces: the end of its symlink chain; refused when not a regular file. */
async function writableTarget(path: string): Promise<string> {
  let current = path;
  for (let hops = 0; hops < 40; hops++) {
    const info = await lstat(current).catch((error: NodeJS.ErrnoException) => {
      if (error.code === 'ENOENT') return undefined;
      throw error;
    });
    if (info === undefined || info.isFile()) return current;
    if (!info.isSymbolicLink())
      throw notRegularFile(path, current, info.isDirectory() ? 'a directory' : kind(info));
    current = resolve(dirname(current), await readlink(current));
  }
  // Let the kernel report the loop (ELOOP) the way it reports any other unusable path.
  await stat(path);
  return path;
}

function kind(info: { isCharacterDevice(): boolean; isBlockDevice(): boolean; isFIFO(): boolean }): string {
  if (info.isCharacterDevice()) return 'a character device';
  if (info.isBlockDevice()) return 'a block device';
  if (info.isFIFO()) return 'a FIFO';
  return 'a socket';
}

function notRegularFile(path: string, resolved: string, what: string): KartError {
  return new KartError(
    'OUTPUT_NOT_REGULAR_FILE',
    `${path}${resolved === path ? '' : ` (→ ${resolved})`} is ${what}; kart replaces files atomically and will not replace it`,
    {
      exitCode: 2,
      hint: what === 'a directory' ? 'name a file, not a directory' : 'name a regular file, or - for stdout',
      details: { path, resolved },
    },
  );
}

/** A unique name beside `path` (same directory, so same filesystem, so rename is atomic). */
export function tempSiblingPath(path: string): string {
  return join(dirname(path), `.${basename(path)}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`);
}

/** Makes a file written without fsync (a batch of them, synced together) durable. */
export async function syncFile(path: string): Promise<void> {
  const handle = await open(path, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
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
