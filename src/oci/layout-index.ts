import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { KartError } from '../errors.ts';
import { writeFileAtomic } from './atomic-file.ts';
import { withLayoutLock, type LayoutLockOptions } from './layout-lock.ts';
import { unwritableOrInvalid } from './layout-errors.ts';
import { MediaType } from './media-types.ts';
import { ImageIndexSchema, parseJson, type Descriptor, type ImageIndex } from './schema.ts';

/**
 * A layout's index.json, the tag bookkeeping: each entry carries its tag in
 * `org.opencontainers.image.ref.name`; it is read whole and replaced atomically under the layout's
 * lock, so concurrent writers never lose a tag.
 */
export const REF_NAME_ANNOTATION = 'org.opencontainers.image.ref.name';

// distribution-spec tag grammar.
const TAG_PATTERN = /^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$/;

export function requireValidTag(reference: string): void {
  if (!TAG_PATTERN.test(reference)) {
    throw new KartError('TAG_INVALID', `"${reference}" is not a valid tag`, {
      hint: 'a tag is 1-128 characters of letters, digits, "_", "." and "-", not starting with "." or "-"',
    });
  }
}

export function emptyIndex(): ImageIndex {
  return { schemaVersion: 2, mediaType: MediaType.OciIndex, manifests: [] };
}

export function serialiseIndex(index: ImageIndex): string {
  return JSON.stringify(index);
}

/** The parsed index.json (entries keep their ref.name annotations). */
export async function readIndexFile(root: string): Promise<ImageIndex> {
  const path = join(root, 'index.json');
  let bytes: Buffer;
  try {
    bytes = await readFile(path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new KartError(
        'LAYOUT_INVALID',
        `${root} is not a complete OCI image layout: index.json is missing`,
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
    throw new KartError('LAYOUT_INVALID', `${root} is not a valid OCI image layout: ${message}`, {
      cause: error,
      hint: 'index.json must be an OCI image index',
    });
  }
}

/** Replaces index.json with `change` of it, under the layout's lock. */
export async function updateIndexFile(
  root: string,
  lock: LayoutLockOptions,
  change: (index: ImageIndex) => ImageIndex | Promise<ImageIndex>,
): Promise<void> {
  await withLayoutLock(
    root,
    async () => {
      const next = await change(await readIndexFile(root));
      await writeFileAtomic(join(root, 'index.json'), serialiseIndex(next)).catch(
        (error: NodeJS.ErrnoException) => {
          throw unwritableOrInvalid(join(root, 'index.json'), error, 'cannot update index.json');
        },
      );
    },
    lock,
  ).catch((error: NodeJS.ErrnoException) => {
    throw unwritableOrInvalid(root, error, 'cannot lock the layout');
  });
}

export function tagsOf(index: ImageIndex): string[] {
  const names = index.manifests.flatMap((entry) => {
    const name = entry.annotations?.[REF_NAME_ANNOTATION];
    return name === undefined ? [] : [name];
  });
  return [...new Set(names)].sort();
}

/** The descriptor as content, without the layout's bookkeeping annotation. */
export function withoutRefName(desc: Descriptor): Descriptor {
  if (desc.annotations?.[REF_NAME_ANNOTATION] === undefined) return desc;
  const { [REF_NAME_ANNOTATION]: _dropped, ...rest } = desc.annotations;
  const { annotations: _all, ...plain } = desc;
  return Object.keys(rest).length > 0 ? { ...plain, annotations: rest } : plain;
}

/** index.json with `reference` pointing at `desc`: replaced in place (a stable order), or appended. */
export function withTag(index: ImageIndex, desc: Descriptor, reference: string): ImageIndex {
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
