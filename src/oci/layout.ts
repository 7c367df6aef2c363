import { randomBytes } from 'node:crypto';
import { constants, createWriteStream } from 'node:fs';
import { access, mkdir, open, readFile, readdir, rename, stat, unlink } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { z } from 'zod';
import { KartError } from '../errors.ts';
import { writeFileAtomic, syncDirectory } from './atomic-file.ts';
import {
  DigestingStream,
  VerifyingStream,
  digestAlgorithm,
  digestHex,
  isDigest,
  markVerified,
  verifiedDigestOf,
  type Digest,
} from './digest.ts';
import { LOCK_FILE_NAME, withLayoutLock, type LayoutLockOptions } from './layout-lock.ts';
import { MAX_MANIFEST_BYTES, MediaType, isManifestMediaType } from './media-types.ts';
import { ImageIndexSchema, parseJson, type Descriptor, type ImageIndex } from './schema.ts';
import type { Deleter, TagLister, Target } from './store.ts';

/**
 * An OCI image layout directory (image-spec image-layout.md) as a store: `oci-layout`, `index.json`
 * whose entries carry their tag in `org.opencontainers.image.ref.name`, and `blobs/<alg>/<hex>`.
 * Every write lands atomically: blobs are verified into a temp file on the same filesystem and renamed
 * to their digest name only when they match; index.json is replaced by rename under a lock, so a
 * crash or a concurrent pack never leaves a layout skopeo or oras cannot read, nor loses a tag.
 */
export const REF_NAME_ANNOTATION = 'org.opencontainers.image.ref.name';
export const LAYOUT_VERSION = '1.0.0';

/** Temp files of blobs being written; layout readers ignore unknown files (image-layout.md). */
const INGEST_DIR = '.kart-ingest';

const LayoutHeaderSchema = z.looseObject({ imageLayoutVersion: z.string() });

// distribution-spec tag grammar.
const TAG_PATTERN = /^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$/;

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

function emptyIndex(): ImageIndex {
  return { schemaVersion: 2, mediaType: MediaType.OciIndex, manifests: [] };
}

function serialiseIndex(index: ImageIndex): string {
  return JSON.stringify(index);
}

const PERMISSION_CODES = new Set(['EACCES', 'EPERM', 'EROFS', 'ENOSPC', 'EDQUOT']);

/** OS errors while writing: LAYOUT_UNWRITABLE naming the path and the OS reason (exit 2). */
function unwritableOrInvalid(path: string, error: NodeJS.ErrnoException, what: string): KartError {
  if (error instanceof KartError) return error;
  const reason = error.code ? `${error.code}: ${osReason(error)}` : String(error.message);
  if (error.code !== undefined && (PERMISSION_CODES.has(error.code) || error.code === 'ENOTDIR')) {
    return new KartError('LAYOUT_UNWRITABLE', `${path}: ${what} (${reason})`, {
      hint: 'choose a directory you can write to, or fix its permissions or free space',
      cause: error,
      details: { path, reason: error.code },
    });
  }
  return new KartError('LAYOUT_IO_FAILED', `${path}: ${what} (${reason})`, {
    cause: error,
    details: { path },
  });
}

function osReason(error: NodeJS.ErrnoException): string {
  // Node messages read "EACCES: permission denied, open '/x'": keep the middle part.
  const match = /^[A-Z]+: ([^,]+)/.exec(error.message);
  return match?.[1] ?? error.message;
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
    // Lazy: bytes start flowing (and so verification errors can only be raised) once someone reads;
    // a small blob verified eagerly would fail with no listener attached yet.
    const file = handle;
    let started = false;
    const what = `${this.name} blob ${desc.digest}` as const;
    const verified = Readable.from(
      (async function* () {
        started = true;
        const source = file.createReadStream();
        const verify = new VerifyingStream(desc, what);
        source.on('error', (error) => verify.destroy(error));
        try {
          yield* source.pipe(verify);
        } finally {
          source.destroy();
        }
      })(),
    );
    verified.on('close', () => {
      if (!started) void file.close().catch(() => undefined);
    });
    return markVerified(verified, desc.digest);
  }

  async push(desc: Descriptor, content: Readable): Promise<void> {
    if (await this.exists(desc)) {
      // Content-addressed: the same digest is the same bytes; release the source without reading it.
      content.destroy();
      return;
    }
    const ingest = join(this.root, INGEST_DIR);
    const final = this.blobPath(desc.digest);
    const temp = join(
      ingest,
      `${digestHex(desc.digest).slice(0, 16)}.${process.pid}.${randomBytes(6).toString('hex')}`,
    );
    try {
      await mkdir(ingest, { recursive: true });
      await mkdir(join(this.root, 'blobs', digestAlgorithm(desc.digest)), { recursive: true });
    } catch (error) {
      content.destroy();
      throw unwritableOrInvalid(this.root, error as NodeJS.ErrnoException, 'cannot write blobs');
    }
    try {
      // flush: fsync before close, so the renamed blob is durable before index.json can name it.
      const file = createWriteStream(temp, { flags: 'wx', mode: 0o644, flush: true });
      // Content its producer already verifies (a registry blob read) errors instead of ending when
      // wrong, which fails this pipeline just the same: it is not hashed a second time.
      if (verifiedDigestOf(content) === desc.digest) await pipeline(content, file);
      else
        await pipeline(
          content,
          new VerifyingStream(desc, `blob ${desc.digest} pushed to ${this.name}`),
          file,
        );
      await rename(temp, final);
    } catch (error) {
      await unlink(temp).catch(() => undefined);
      if (error instanceof KartError) throw error;
      throw unwritableOrInvalid(final, error as NodeJS.ErrnoException, 'cannot store the blob');
    }
    await syncDirectory(join(this.root, 'blobs', digestAlgorithm(desc.digest)));
  }

  /**
   * Stores content whose digest is not known in advance (a tar layer being generated): hashes it while
   * writing the temp file, then renames it to its digest name. Returns its descriptor.
   */
  async ingest(content: Readable, mediaType: string): Promise<Descriptor> {
    const ingest = join(this.root, INGEST_DIR);
    const temp = join(ingest, `ingest.${process.pid}.${randomBytes(6).toString('hex')}`);
    const hasher = new DigestingStream();
    try {
      await mkdir(ingest, { recursive: true });
      await mkdir(join(this.root, 'blobs', 'sha256'), { recursive: true });
    } catch (error) {
      content.destroy();
      throw unwritableOrInvalid(this.root, error as NodeJS.ErrnoException, 'cannot write blobs');
    }
    let desc: Descriptor;
    try {
      await pipeline(content, hasher, createWriteStream(temp, { flags: 'wx', mode: 0o644, flush: true }));
      desc = { mediaType, digest: hasher.digest(), size: hasher.bytes };
      // Same digest already stored: same bytes; the rename would replace it with an identical file.
      await rename(temp, this.blobPath(desc.digest));
    } catch (error) {
      await unlink(temp).catch(() => undefined);
      if (error instanceof KartError) throw error;
      throw unwritableOrInvalid(ingest, error as NodeJS.ErrnoException, 'cannot store the content');
    }
    await syncDirectory(join(this.root, 'blobs', 'sha256'));
    return desc;
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
    if (!TAG_PATTERN.test(reference)) {
      throw new KartError('TAG_INVALID', `"${reference}" is not a valid tag`, {
        hint: 'a tag is 1-128 characters of letters, digits, "_", "." and "-", not starting with "." or "-"',
      });
    }
    if (!(await this.exists(desc))) throw this.#blobNotFound(desc);
    await this.#updateIndex((index) => withTag(index, desc, reference));
  }

  /** TagUpdater: read, let `update` store a new root, and tag it, all under the layout's lock. */
  async updateTag(
    reference: string,
    update: (current: Descriptor | undefined) => Promise<Descriptor>,
  ): Promise<Descriptor> {
    if (!TAG_PATTERN.test(reference)) {
      throw new KartError('TAG_INVALID', `"${reference}" is not a valid tag`, {
        hint: 'a tag is 1-128 characters of letters, digits, "_", "." and "-", not starting with "." or "-"',
      });
    }
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
  async readIndex(): Promise<ImageIndex> {
    const path = join(this.root, 'index.json');
    let bytes: Buffer;
    try {
      bytes = await readFile(path);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') {
        throw new KartError(
          'LAYOUT_INVALID',
          `${this.root} is not a complete OCI image layout: index.json is missing`,
          {
            hint: 'the layout is damaged; copy what you need into a new layout',
          },
        );
      }
      throw unwritableOrInvalid(path, error as NodeJS.ErrnoException, 'cannot read index.json');
    }
    try {
      return parseJson(ImageIndexSchema, bytes, path);
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      throw new KartError('LAYOUT_INVALID', `${this.root} is not a valid OCI image layout: ${message}`, {
        cause: error,
        hint: 'index.json must be an OCI image index',
      });
    }
  }

  async #updateIndex(change: (index: ImageIndex) => ImageIndex | Promise<ImageIndex>): Promise<void> {
    await withLayoutLock(
      this.root,
      async () => {
        const next = await change(await this.readIndex());
        await writeFileAtomic(join(this.root, 'index.json'), serialiseIndex(next)).catch(
          (error: NodeJS.ErrnoException) => {
            throw unwritableOrInvalid(join(this.root, 'index.json'), error, 'cannot update index.json');
          },
        );
      },
      this.#lock,
    ).catch((error: NodeJS.ErrnoException) => {
      throw unwritableOrInvalid(this.root, error, 'cannot lock the layout');
    });
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
    const probe = z.looseObject({ mediaType: z.string().optional() }).safeParse(safeJson(bytes));
    const mediaType = probe.success ? probe.data.mediaType : undefined;
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

function tagsOf(index: ImageIndex): string[] {
  const names = index.manifests.flatMap((entry) => {
    const name = entry.annotations?.[REF_NAME_ANNOTATION];
    return name === undefined ? [] : [name];
  });
  return [...new Set(names)].sort();
}

/** The descriptor as content, without the layout's bookkeeping annotation. */
function withoutRefName(desc: Descriptor): Descriptor {
  if (desc.annotations?.[REF_NAME_ANNOTATION] === undefined) return desc;
  const { [REF_NAME_ANNOTATION]: _dropped, ...rest } = desc.annotations;
  const { annotations: _all, ...plain } = desc;
  return Object.keys(rest).length > 0 ? { ...plain, annotations: rest } : plain;
}

/** index.json with `reference` pointing at `desc`: replaced in place (a stable order), or appended. */
function withTag(index: ImageIndex, desc: Descriptor, reference: string): ImageIndex {
  const entry: Descriptor = {
    ...withoutRefName(desc),
    annotations: { ...(desc.annotations ?? {}), [REF_NAME_ANNOTATION]: reference },
  };
  const isThisTag = (e: Descriptor) => e.annotations?.[REF_NAME_ANNOTATION] === reference;
  const at = index.manifests.findIndex(isThisTag);
  const manifests = index.manifests.filter((e, i) => i === at || !isThisTag(e));
  if (at === -1) manifests.push(entry);
  else manifests[manifests.findIndex(isThisTag)] = entry;
  return { ...index, manifests };
}

function notALayout(root: string, creating: boolean): KartError {
  return new KartError('LAYOUT_INVALID', `${root} is not an OCI image layout: it has no oci-layout file`, {
    hint: creating
      ? 'choose an empty or new directory for a new layout'
      : 'give the path of a layout directory (it holds oci-layout, index.json and blobs/)',
  });
}

async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  );
}
