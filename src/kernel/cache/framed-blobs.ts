import { randomBytes } from 'node:crypto';
import { link, mkdir, open, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { syncDirectory, syncFile } from '../../oci/atomic-file.ts';
import { digestAlgorithm, digestHex, isDigest, markVerified, type Digest } from '../../oci/digest.ts';
import { markBackingFile } from '../../oci/backing-file.ts';
import { digestFile } from '../../oci/file-digest.ts';
import { shareFile } from '../../oci/shared-file.ts';
import { INGEST_DIR } from '../../oci/layout-ingest.ts';
import type { Descriptor } from '../../oci/schema.ts';
import { verifiedFileStream } from '../../oci/verified-file-stream.ts';

/**
 * Layers the cache keeps by sharing the file `pull -k` installed from them, instead of a second copy
 * of their bytes. A kart layer is a tar of one file: its blob is that file's bytes with a few hundred
 * bytes of tar headers before them and padding and the end-of-archive blocks after. So the cache
 * keeps the blob as `framed/<alg>/<hex>/`: `data`, a second name for the installed file's bytes (a
 * reflink where the filesystem offers one, else a hard link: see shareFile), and `frame.json`, the
 * bytes before and after it (containers' tar-split keeps a layer the same way, as its files plus the
 * tar framing around them). Reading the blob streams head, data, tail, and checks the whole against
 * the digest as every cached read does, so a changed installed file reads as a damaged blob (removed
 * and fetched again), and `cache verify` finds it. The read carries its backing file (the open
 * descriptor), so an install from the cache into another DEST can clone it where the filesystem
 * offers reflinks instead of writing it again.
 *
 * A framed blob is built in a temp directory inside the cache's ingest directory (so a killed pull's
 * leftovers are removed like its temp files) and renamed into place whole, after the data and the
 * frame are durable: a framed blob is there completely or not at all.
 */
export const FRAMED_DIR = 'framed';

/** The bytes around the file; larger ones are not a one-file tar layer and are not framed. */
export const MAX_FRAME_BYTES = 64 * 1024;

const READ_CHUNK = 128 * 1024;

interface FrameRecord {
  digest: Digest;
  size: number;
  head: string;
  tail: string;
}

export interface Frame {
  head: Buffer;
  tail: Buffer;
}

export interface StoredFramedBlob {
  digest: Digest;
  /** the blob's size (its data's blocks are shared with an installed file) */
  size: number;
}

export class FramedBlobs {
  readonly #root: string;

  constructor(cacheRoot: string) {
    this.#root = cacheRoot;
  }

  dirOf(digest: Digest): string {
    return join(this.#root, FRAMED_DIR, digestAlgorithm(digest), digestHex(digest));
  }

  async has(desc: Descriptor): Promise<boolean> {
    return (await this.#frame(desc.digest))?.size === desc.size;
  }

  /** The blob's bytes, verified as they are read (DIGEST_MISMATCH/SIZE_MISMATCH instead of an end). */
  async fetch(desc: Descriptor, what: string): Promise<Readable | undefined> {
    const frame = await this.#frame(desc.digest);
    if (frame === undefined || frame.size !== desc.size) return undefined;
    return framedStream(join(this.dirOf(desc.digest), 'data'), desc, frame, what).catch(() => undefined);
  }

  /** Whether the stored blob reads back as `desc`'s bytes. */
  async holds(desc: Descriptor): Promise<boolean> {
    const actual = await this.digestOf(desc.digest);
    return actual?.digest === desc.digest && actual.size === desc.size;
  }

  /**
   * The file at `path`, kept inside the cache (its ingest directory, where a killed pull's leftovers
   * are removed) so it stays after its owner moves or removes its own name: a reflink where the
   * filesystem offers one (XFS, btrfs: a copy sharing the same blocks, so a later change to the
   * installed file does not reach the cache), else a hard link (the same file); undefined where
   * neither can be made (another filesystem, or one without hard links).
   */
  async holdFile(path: string): Promise<string | undefined> {
    const ingest = join(this.#root, INGEST_DIR);
    await mkdir(ingest, { recursive: true });
    const held = join(ingest, `framed-data.${process.pid}.${randomBytes(6).toString('hex')}`);
    return (await shareFile(path, held)) === undefined ? undefined : held;
  }

  /**
   * Keeps `desc` as the file at `dataPath` framed by `frame`: hard-links the file (same filesystem
   * only: link's EXDEV, or EPERM where a filesystem has no hard links, is the caller's to handle; it
   * then stores the blob whole), makes both durable, and renames the directory into place. The caller
   * has checked that head + file + tail is the blob (the bytes were verified as they were written).
   */
  async store(desc: Descriptor, dataPath: string, frame: Frame): Promise<void> {
    const final = this.dirOf(desc.digest);
    const ingest = join(this.#root, INGEST_DIR);
    await mkdir(ingest, { recursive: true });
    const temp = join(ingest, `framed.${process.pid}.${randomBytes(6).toString('hex')}`);
    await mkdir(temp);
    try {
      await link(dataPath, join(temp, 'data'));
      const record: FrameRecord = {
        digest: desc.digest,
        size: desc.size,
        head: frame.head.toString('base64'),
        tail: frame.tail.toString('base64'),
      };
      await writeFile(join(temp, 'frame.json'), `${JSON.stringify(record)}\n`, { flag: 'wx' });
      for (const name of ['data', 'frame.json']) await syncFile(join(temp, name));
      await syncDirectory(temp);
      await mkdir(join(final, '..'), { recursive: true });
      await rename(temp, final).catch(async (error: NodeJS.ErrnoException) => {
        // Stored meanwhile (under the digest's lock that cannot happen; a copy left by a crash can).
        if (error.code !== 'ENOTEMPTY' && error.code !== 'EEXIST') throw error;
        await rm(final, { recursive: true, force: true });
        await rename(temp, final);
      });
      await syncDirectory(join(final, '..'));
    } finally {
      await rm(temp, { recursive: true, force: true });
    }
  }

  /** What the stored blob hashes to (undefined when its frame or data is gone). */
  async digestOf(digest: Digest): Promise<{ digest: Digest; size: number } | undefined> {
    const frame = await this.#frame(digest);
    if (frame === undefined) return undefined;
    return digestFile(join(this.dirOf(digest), 'data'), digestAlgorithm(digest), frame).catch(
      () => undefined,
    );
  }

  async remove(digest: Digest): Promise<void> {
    await rm(this.dirOf(digest), { recursive: true, force: true });
  }

  /** Every framed blob whose frame can be read (one that cannot is listed with size 0, to be removed). */
  async list(): Promise<StoredFramedBlob[]> {
    const blobs: StoredFramedBlob[] = [];
    const top = join(this.#root, FRAMED_DIR);
    for (const algorithm of await readdir(top).catch(() => [] as string[])) {
      for (const hex of await readdir(join(top, algorithm)).catch(() => [] as string[])) {
        const digest = `${algorithm}:${hex}`;
        if (!isDigest(digest)) continue;
        const frame = await this.#frame(digest);
        blobs.push({ digest, size: frame?.size ?? 0 });
      }
    }
    return blobs;
  }

  /** The stored frame, when it is whole and names this digest. */
  async #frame(digest: Digest): Promise<(Frame & { size: number }) | undefined> {
    let record: Partial<FrameRecord>;
    try {
      record = JSON.parse(
        await readFile(join(this.dirOf(digest), 'frame.json'), 'utf8'),
      ) as Partial<FrameRecord>;
    } catch {
      return undefined;
    }
    if (
      record.digest !== digest ||
      typeof record.size !== 'number' ||
      typeof record.head !== 'string' ||
      typeof record.tail !== 'string'
    ) {
      return undefined;
    }
    const data = await stat(join(this.dirOf(digest), 'data')).catch(() => undefined);
    if (data === undefined || !data.isFile()) return undefined;
    return {
      size: record.size,
      head: Buffer.from(record.head, 'base64'),
      tail: Buffer.from(record.tail, 'base64'),
    };
  }
}

/** The file at `dataPath` between `frame.head` and `frame.tail`, verified as `desc` as it is read. */
export async function framedStream(
  dataPath: string,
  desc: Descriptor,
  frame: Frame,
  what: string,
): Promise<Readable> {
  const handle = await open(dataPath, 'r');
  const stream = verifiedFileStream(handle, desc, what, READ_CHUNK, frame);
  // The backing file is named by the open descriptor, not the path: what a reader clones is the file
  // whose bytes this stream verifies, even if someone swaps `data` meanwhile.
  const backing = {
    path: `/proc/self/fd/${handle.fd}`,
    offset: frame.head.length,
    size: desc.size - frame.head.length - frame.tail.length,
  };
  return markBackingFile(markVerified(stream, desc.digest), backing);
}
