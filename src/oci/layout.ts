import { constants } from 'node:fs';
import { access, mkdir, open, readFile, readdir, stat, unlink } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { Readable } from 'node:stream';
import { KartError } from '../errors.ts';
import { writeFileAtomic } from './atomic-file.ts';
import { digestAlgorithm, digestHex, isDigest, markVerified, type Digest } from './digest.ts';
import { LOCK_FILE_NAME, withLayoutLock, type LayoutLockOptions } from './layout-lock.ts';
import { MAX_MANIFEST_BYTES, isManifestMediaType } from './media-types.ts';
import { checkShape, looseObject, optional, string } from './json-shape.ts';
import { parseJson, type Descriptor, type ImageIndex } from './schema.ts';
import type { Deleter, TagLister, Target } from './store.ts';
import { notALayout, unwritableOrInvalid } from './layout-errors.ts';
import {
  REF_NAME_ANNOTATION,
  emptyIndex,
  readIndexFile,
  requireValidTag,
  serialiseIndex,
  tagsOf,
  updateIndexFile,
  withTag,
  withoutRefName,
} from './layout-index.ts';
import { ingestBlob, storeVerifiedBlob } from './layout-ingest.ts';
import { verifiedFileStream } from './verified-file-stream.ts';

export { REF_NAME_ANNOTATION } from './layout-index.ts';

/**
 * Blob reads in 128 KiB chunks, not the default 64 KiB: half the reads (each a thread-pool round trip)
 * and half the chunks through every stream after it. Larger fresh buffers page-fault more than they
 * save (256 KiB-1 MiB measured slower on a push).
 */
const READ_CHUNK = 128 * 1024;

/**
 * An OCI image layout directory (image-spec image-layout.md) as a store: `oci-layout`, `index.json`
 * whose entries carry their tag in `org.opencontainers.image.ref.name`, and `blobs/<alg>/<hex>`.
 * Every write lands atomically: blobs are verified into a temp file on the same filesystem and renamed
 * to their digest name only when they match; index.json is replaced by rename under a lock, so a
 * crash or a concurrent pack never leaves a layout skopeo or oras cannot read, nor loses a tag.
 */
export const LAYOUT_VERSION = '1.0.0';

const LayoutHeaderSchema = looseObject({ imageLayoutVersion: string() });
const MediaTypeProbe = looseObject({ mediaType: optional(string()) });

export interface OpenLayoutOptions {
  /** Create the directory and its `oci-layout`/`index.json` when missing (and check it is writable). */
  create?: boolean;
  lock?: LayoutLockOptions;
}

export async function openLayout(dir: string, options: OpenLayoutOptions = {}): Promise<OciLayout> {
  const root = resolve(dir);
  const layoutFile = join(root, 'oci-layout');
  const isDirectory = await stat(root).then(
    (info) => info.isDirectory(),
    (error: NodeJS.ErrnoException) => {
      if (error.code === 'ENOENT') return undefined;
      if (error.code === 'ENOTDIR') return undefined; // a parent is a file: cannot exist, cannot be created
      throw unwritableOrInvalid(root, error, 'cannot read');
    },
  );
  if (isDirectory === false) {
    throw new KartError('LAYOUT_INVALID', `${root} is not a directory, so it is not an OCI image layout`, {
      hint: 'give the path of a layout directory (it holds oci-layout, index.json and blobs/)',
    });
  }
  if (isDirectory === undefined) {
    if (!options.create) {
      throw new KartError('LAYOUT_NOT_FOUND', `OCI image layout ${root} does not exist`, {
        hint: 'check the path, or create the layout by packing or copying into it first',
      });
    }
    await mkdir(root, { recursive: true }).catch((error: NodeJS.ErrnoException) => {
      throw unwritableOrInvalid(root, error, 'cannot create the layout directory');
    });
  }

  const hasHeader = await exists(layoutFile);
  if (!hasHeader) {
    if (!options.create) throw notALayout(root, false);
    // Under the lock, so that processes creating one new layout at once see it whole: the first
    // initialises, the others find its oci-layout file and never rewrite an index.json in use.
    await withLayoutLock(
      root,
      async () => {
        if (await exists(layoutFile)) return;
        const entries = (await readdir(root)).filter((name) => name !== LOCK_FILE_NAME);
        if (entries.length > 0) throw notALayout(root, true);
        await initialise(root);
      },
      options.lock ?? {},
    ).catch((error: NodeJS.ErrnoException) => {
      throw unwritableOrInvalid(root, error, 'cannot lock the layout');
    });
  }

  const header = parseJson(LayoutHeaderSchema, await readFile(layoutFile), `${layoutFile}`);
  if (header.imageLayoutVersion.split('.')[0] !== '1') {
    throw new KartError(
      'LAYOUT_INVALID',
      `${layoutFile}: image layout version ${header.imageLayoutVersion} is not supported`,
      { hint: `kart reads and writes image layout version ${LAYOUT_VERSION}` },
    );
  }
  const layout = new OciLayout(root, options.lock ?? {});
  await layout.readIndex(); // fail now on a corrupt index.json, not at the first resolve
  if (options.create) {
    await access(root, constants.W_OK).catch((error: NodeJS.ErrnoException) => {
      throw unwritableOrInvalid(root, error, 'cannot write to the layout');
    });
  }
  return layout;
}

async function initialise(root: string): Promise<void> {
  try {
    await mkdir(join(root, 'blobs', 'sha256'), { recursive: true });
    await writeFileAtomic(join(root, 'index.json'), serialiseIndex(emptyIndex()));
    // oci-layout last: its presence is what marks the directory as a complete layout.
    await writeFileAtomic(
      join(root, 'oci-layout'),
      `${JSON.stringify({ imageLayoutVersion: LAYOUT_VERSION })}`,
    );
  } catch (error) {
    throw unwritableOrInvalid(root, error as NodeJS.ErrnoException, 'cannot initialise the layout');
  }
}

export class OciLayout implements Target, TagLister, Deleter {
  readonly name: string;
  readonly root: string;
  readonly #lock: LayoutLockOptions;

  constructor(root: string, lock: LayoutLockOptions = {}) {
    this.root = root;
    this.name = `oci:${root}`;
    this.#lock = lock;
  }

  blobPath(digest: Digest): string {
    return join(this.root, 'blobs', digestAlgorithm(digest), digestHex(digest));
  }

  async exists(desc: Descriptor): Promise<boolean> {
    try {
      const info = await stat(this.blobPath(desc.digest));
      return info.isFile();
    } catch {
      return false;
    }
  }

  async fetch(desc: Descriptor): Promise<Readable> {
    const path = this.blobPath(desc.digest);
    let handle;
    try {
      handle = await open(path, 'r');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') throw this.#blobNotFound(desc);
      throw unwritableOrInvalid(path, error as NodeJS.ErrnoException, 'cannot read the blob');
    }
    // Lazy: bytes are read (and so verification errors can only be raised) once someone reads; a
    // small blob verified eagerly would fail with no listener attached yet.
    const what = `${this.name} blob ${desc.digest}`;
    const verified = verifiedFileStream(handle, desc, what, READ_CHUNK);
    return markVerified(verified, desc.digest);
  }

  async push(desc: Descriptor, content: Readable): Promise<void> {
    if (await this.exists(desc)) {
      // Content-addressed: the same digest is the same bytes; release the source without reading it.
      content.destroy();
      return;
    }
    await storeVerifiedBlob(this, desc, content);
  }

  /**
   * Stores content whose digest is not known in advance (a tar layer being generated): hashes it while
   * writing the temp file, then renames it to its digest name. Returns its descriptor.
   */
  ingest(content: Readable, mediaType: string): Promise<Descriptor> {
    return ingestBlob(this, content, mediaType);
  }

  async resolve(reference: string): Promise<Descriptor> {
    const index = await this.readIndex();
    if (isDigest(reference)) {
      const listed = index.manifests.find((entry) => entry.digest === reference);
      if (listed) return withoutRefName(listed);
      return this.#describeStoredManifest(reference);
    }
    const tagged = index.manifests.find((entry) => entry.annotations?.[REF_NAME_ANNOTATION] === reference);
    if (!tagged) {
      const tags = tagsOf(index);
      throw new KartError('NOT_FOUND', `tag "${reference}" is not in ${this.name}`, {
        hint: tags.length > 0 ? `the layout has the tags: ${tags.join(', ')}` : 'the layout has no tags yet',
        details: { reference, tags },
      });
    }
    return withoutRefName(tagged);
  }

  async tag(desc: Descriptor, reference: string): Promise<void> {
    requireValidTag(reference);
    if (!(await this.exists(desc))) throw this.#blobNotFound(desc);
    await this.#updateIndex((index) => withTag(index, desc, reference));
  }

  /** TagUpdater: read, let `update` store a new root, and tag it, all under the layout's lock. */
  async updateTag(
    reference: string,
    update: (current: Descriptor | undefined) => Promise<Descriptor>,
  ): Promise<Descriptor> {
    requireValidTag(reference);
    let next: Descriptor | undefined;
    await this.#updateIndex(async (index) => {
      const current = index.manifests.find((e) => e.annotations?.[REF_NAME_ANNOTATION] === reference);
      next = await update(current === undefined ? undefined : withoutRefName(current));
      if (!(await this.exists(next))) throw this.#blobNotFound(next);
      return withTag(index, next, reference);
    });
    if (next === undefined) throw new Error('updateTag: the index update did not run');
    return next;
  }

  /** Removes a tag from index.json; the blobs stay (another tag or manifest may share them). */
  async untag(reference: string): Promise<void> {
    await this.resolve(reference);
    await this.#updateIndex((index) => ({
      ...index,
      manifests: index.manifests.filter((entry) => entry.annotations?.[REF_NAME_ANNOTATION] !== reference),
    }));
  }

  async *tags(): AsyncIterable<string> {
    yield* tagsOf(await this.readIndex());
  }

  /** Deletes a blob and every index.json entry that points at it. */
  async delete(desc: Descriptor): Promise<void> {
    if (!(await this.exists(desc))) throw this.#blobNotFound(desc);
    await this.#updateIndex((index) => ({
      ...index,
      manifests: index.manifests.filter((entry) => entry.digest !== desc.digest),
    }));
    await unlink(this.blobPath(desc.digest)).catch((error: NodeJS.ErrnoException) => {
      if (error.code !== 'ENOENT')
        throw unwritableOrInvalid(this.blobPath(desc.digest), error, 'cannot delete');
    });
  }

  /** The parsed index.json (entries keep their ref.name annotations). */
  readIndex(): Promise<ImageIndex> {
    return readIndexFile(this.root);
  }

  #updateIndex(change: (index: ImageIndex) => ImageIndex | Promise<ImageIndex>): Promise<void> {
    return updateIndexFile(this.root, this.#lock, change);
  }

  /** A digest not listed in index.json: a manifest stored as a blob; its media type is in its JSON. */
  async #describeStoredManifest(digest: Digest): Promise<Descriptor> {
    const path = this.blobPath(digest);
    const info = await stat(path).catch(() => undefined);
    if (!info?.isFile()) throw this.#blobNotFound({ digest });
    if (info.size > MAX_MANIFEST_BYTES) {
      throw new KartError(
        'MANIFEST_TOO_LARGE',
        `${digest} in ${this.name} is ${info.size} bytes, not a manifest`,
        {
          hint: `manifests are at most ${MAX_MANIFEST_BYTES} bytes`,
        },
      );
    }
    const bytes = await readFile(path);
    const probe = checkShape(MediaTypeProbe, safeJson(bytes));
    const mediaType = probe.ok ? probe.value.mediaType : undefined;
    if (mediaType === undefined || !isManifestMediaType(mediaType)) {
      throw new KartError('NOT_FOUND', `${digest} in ${this.name} is not a manifest or index`, {
        hint: 'resolve a tag or the digest of a manifest',
      });
    }
    return { mediaType, digest, size: info.size };
  }

  #blobNotFound(desc: Pick<Descriptor, 'digest'>): KartError {
    return new KartError('NOT_FOUND', `${desc.digest} is not stored in ${this.name}`, {
      details: { digest: desc.digest },
    });
  }
}

function safeJson(bytes: Buffer): unknown {
  try {
    return JSON.parse(bytes.toString('utf8'));
  } catch {
    return undefined;
  }
}

async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  );
}
