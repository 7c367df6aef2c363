import { Readable } from 'node:stream';
import { KartError } from '../errors.ts';
import { readBounded } from './bounded-read.ts';
import { sha256Digest } from './digest.ts';
import { MAX_MANIFEST_BYTES, isImageManifestMediaType, isIndexMediaType } from './media-types.ts';
import {
  ImageIndexSchema,
  ImageManifestSchema,
  parseJson,
  type Descriptor,
  type ImageIndex,
  type ImageManifest,
} from './schema.ts';
import type { Fetcher, Pusher } from './store.ts';

/**
 * Small documents (manifests, indexes, configs) read whole and parsed, and written from bytes. They
 * are the only content kart holds in memory, and never more than `limit` bytes of it.
 */
export type FetchedManifest =
  | { kind: 'index'; descriptor: Descriptor; bytes: Buffer; index: ImageIndex }
  | { kind: 'manifest'; descriptor: Descriptor; bytes: Buffer; manifest: ImageManifest };

/** The whole content of `desc`, refused unless it is at most `limit` bytes (verified by the store). */
export async function fetchBytes(
  store: Fetcher,
  desc: Descriptor,
  limit = MAX_MANIFEST_BYTES,
): Promise<Buffer> {
  if (desc.size > limit) {
    throw new KartError(
      'MANIFEST_TOO_LARGE',
      `${desc.digest} is ${desc.size} bytes; documents are read only up to ${limit}`,
      {
        hint: 'the descriptor does not name a manifest, index or config',
        details: { digest: desc.digest, size: desc.size, limit },
      },
    );
  }
  // The store verifies too; the cap guards against a store that does not.
  return readBounded(
    await store.fetch(desc),
    limit,
    () =>
      new KartError('MANIFEST_TOO_LARGE', `${desc.digest} is larger than ${limit} bytes`, {
        hint: 'the content does not match its descriptor',
      }),
  );
}

/** Fetches and parses a manifest or an index, chosen by the descriptor's media type. */
export async function fetchManifest(store: Fetcher, desc: Descriptor): Promise<FetchedManifest> {
  refuseNonManifest(desc);
  return parseManifestBytes(desc, await fetchBytes(store, desc));
}

/** Parses the bytes of a manifest or index already in hand, chosen by the descriptor's media type. */
export function parseManifestBytes(desc: Descriptor, bytes: Buffer): FetchedManifest {
  const where = `manifest ${desc.digest}`;
  refuseNonManifest(desc);
  if (isIndexMediaType(desc.mediaType)) {
    return { kind: 'index', descriptor: desc, bytes, index: parseJson(ImageIndexSchema, bytes, where) };
  }
  return {
    kind: 'manifest',
    descriptor: desc,
    bytes,
    manifest: parseJson(ImageManifestSchema, bytes, where),
  };
}

function refuseNonManifest(desc: Descriptor): void {
  if (isIndexMediaType(desc.mediaType) || isImageManifestMediaType(desc.mediaType)) return;
  throw new KartError(
    'MANIFEST_UNSUPPORTED',
    `manifest ${desc.digest} has media type ${desc.mediaType}, not an image manifest or index`,
    {
      hint: 'kart reads OCI and Docker v2 image manifests and indexes',
      details: { mediaType: desc.mediaType },
    },
  );
}

/** The descriptor of these exact bytes (sha256). */
export function descriptorOf(
  bytes: Uint8Array,
  mediaType: string,
  extra: Partial<Omit<Descriptor, 'mediaType' | 'digest' | 'size'>> = {},
): Descriptor {
  return { mediaType, digest: sha256Digest(bytes), size: bytes.length, ...extra };
}

/** Pushes small content held in memory. */
export async function pushBytes(store: Pusher, desc: Descriptor, bytes: Uint8Array): Promise<void> {
  await store.push(desc, Readable.from([Buffer.from(bytes)]));
}

/**
 * Serialises a document once (the bytes are what the digest covers, so they are never re-serialised),
 * pushes it, and returns its descriptor and bytes.
 */
export async function pushJson(
  store: Pusher,
  mediaType: string,
  document: unknown,
): Promise<{ descriptor: Descriptor; bytes: Buffer }> {
  const bytes = Buffer.from(JSON.stringify(document), 'utf8');
  const descriptor = descriptorOf(bytes, mediaType);
  await pushBytes(store, descriptor, bytes);
  return { descriptor, bytes };
}
