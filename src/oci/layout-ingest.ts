import { randomBytes } from 'node:crypto';
import { mkdir, rename, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { KartError } from '../errors.ts';
import { syncDirectory } from './atomic-file.ts';
import {
  ContentVerifier,
  createDigester,
  digestAlgorithm,
  digestHex,
  verifiedDigestOf,
  type Digest,
} from './digest.ts';
import { writeNewFile } from './file-sink.ts';
import { unwritableOrInvalid } from './layout-errors.ts';
import type { Descriptor } from './schema.ts';

/**
 * How bytes land in a layout's blobs/: written to a temp file under `.kart-ingest/` on the same
 * filesystem, verified (or hashed, for content whose digest is known only at its end), flushed, and
 * renamed to their digest name only then, so `blobs/` never holds a partial or wrong blob.
 */

/** Temp files of blobs being written; layout readers ignore unknown files (image-layout.md). */
export const INGEST_DIR = '.kart-ingest';

/** Where a layout keeps its blobs, as the ingest needs it. */
export interface BlobDirectory {
  readonly root: string;
  readonly name: string;
  blobPath(digest: Digest): string;
}

/** Stores `content` as the blob `desc` names, verifying it while writing. */
export async function storeVerifiedBlob(
  layout: BlobDirectory,
  desc: Descriptor,
  content: Readable,
): Promise<void> {
  const ingest = join(layout.root, INGEST_DIR);
  const final = layout.blobPath(desc.digest);
  const temp = join(
    ingest,
    `${digestHex(desc.digest).slice(0, 16)}.${process.pid}.${randomBytes(6).toString('hex')}`,
  );
  try {
    await mkdir(ingest, { recursive: true });
    await mkdir(join(layout.root, 'blobs', digestAlgorithm(desc.digest)), { recursive: true });
  } catch (error) {
    content.destroy();
    throw unwritableOrInvalid(layout.root, error as NodeJS.ErrnoException, 'cannot write blobs');
  }
  try {
    // Content its producer already verifies (a registry blob read) errors instead of ending when
    // wrong, which fails this write just the same: it is not hashed a second time.
    const verifier =
      verifiedDigestOf(content) === desc.digest
        ? undefined
        : new ContentVerifier(desc, `blob ${desc.digest} pushed to ${layout.name}`);
    // writeNewFile fsyncs, so the renamed blob is durable before index.json can name it.
    await writeNewFile(content, temp, verifier && ((chunk) => verifier.update(chunk)));
    verifier?.end();
    await rename(temp, final);
  } catch (error) {
    await unlink(temp).catch(() => undefined);
    if (error instanceof KartError) throw error;
    throw unwritableOrInvalid(final, error as NodeJS.ErrnoException, 'cannot store the blob');
  }
  await syncDirectory(join(layout.root, 'blobs', digestAlgorithm(desc.digest)));
}

/** Stores content whose digest is not known in advance under the digest it hashes to. */
export async function ingestBlob(
  layout: BlobDirectory,
  content: Readable,
  mediaType: string,
): Promise<Descriptor> {
  const ingest = join(layout.root, INGEST_DIR);
  const temp = join(ingest, `ingest.${process.pid}.${randomBytes(6).toString('hex')}`);
  const hash = createDigester();
  let size = 0;
  try {
    await mkdir(ingest, { recursive: true });
    await mkdir(join(layout.root, 'blobs', 'sha256'), { recursive: true });
  } catch (error) {
    content.destroy();
    throw unwritableOrInvalid(layout.root, error as NodeJS.ErrnoException, 'cannot write blobs');
  }
  let desc: Descriptor;
  try {
    await writeNewFile(content, temp, (chunk) => {
      hash.update(chunk);
      size += chunk.length;
    });
    desc = { mediaType, digest: `sha256:${hash.digest('hex')}`, size };
    // Same digest already stored: same bytes; the rename would replace it with an identical file.
    await rename(temp, layout.blobPath(desc.digest));
  } catch (error) {
    await unlink(temp).catch(() => undefined);
    if (error instanceof KartError) throw error;
    throw unwritableOrInvalid(ingest, error as NodeJS.ErrnoException, 'cannot store the content');
  }
  await syncDirectory(join(layout.root, 'blobs', 'sha256'));
  return desc;
}
