import type { Readable } from 'node:stream';
import type { Descriptor } from './schema.ts';

/**
 * The store interfaces, after oras-go's content package: tiny and composed, so that an OCI layout
 * directory, the pull cache and a remote registry repository are interchangeable ends of one copy.
 * Blobs and manifests travel through the same methods; an implementation that keeps them apart
 * (a registry) routes on `desc.mediaType`.
 */
export interface Fetcher {
  /**
   * Streams exactly the content `desc` names. Implementations verify as bytes flow: the stream
   * errors with SIZE_MISMATCH or DIGEST_MISMATCH (KartError) instead of ending normally when the
   * content is not what the descriptor says. A missing blob rejects with code NOT_FOUND.
   */
  fetch(desc: Descriptor): Promise<Readable>;
}

export interface Pusher {
  /**
   * Stores `content` under `desc`, verifying size and digest while writing; content that does not
   * match is never committed (rejects with SIZE_MISMATCH / DIGEST_MISMATCH). Pushing what already
   * exists is not an error.
   */
  push(desc: Descriptor, content: Readable): Promise<void>;
}

export interface ReadOnlyStorage extends Fetcher {
  exists(desc: Descriptor): Promise<boolean>;
}

export interface Storage extends ReadOnlyStorage, Pusher {}

export interface TagResolver {
  /** A tag or a digest → the descriptor of the manifest or index it names (NOT_FOUND when absent). */
  resolve(reference: string): Promise<Descriptor>;
  /**
   * resolve for a caller to whom absence is an answer (is the tag there yet?): undefined instead of
   * NOT_FOUND. Optional: a registry implements it to skip the GET it would make for the error's words.
   */
  probe?(reference: string): Promise<Descriptor | undefined>;
  /** Points `reference` (a tag) at `desc`, which must already be stored. */
  tag(desc: Descriptor, reference: string): Promise<void>;
}

export interface TagLister {
  /** Every tag, in lexical order (registries page; this reads all pages). */
  tags(): AsyncIterable<string>;
}

/**
 * A store that can move a tag as one step relative to what it named before (a compare-and-swap):
 * read-merge-write of a multi-platform index under a tag then never loses a concurrent writer's
 * platform. A layout does it under its lock; the distribution API has no such primitive, so registry
 * callers re-read and retry instead.
 */
export interface TagUpdater {
  /**
   * Calls `update` with what `reference` names now (undefined when the tag is new); `update` stores the
   * new root and returns its descriptor; the tag then points at it, with no other update of this
   * store's tags in between.
   */
  updateTag(
    reference: string,
    update: (current: Descriptor | undefined) => Promise<Descriptor>,
  ): Promise<Descriptor>;
}

export function canUpdateTag(target: object): target is TagUpdater {
  return typeof (target as Partial<TagUpdater>).updateTag === 'function';
}

/**
 * A store that can take content whose digest is known only once all of it has been read (a layer
 * being generated), hashing it as it writes and naming it by that digest. A layout can; a registry
 * needs the digest before the upload ends, so producers of such content hash it first there.
 */
export interface Ingester {
  ingest(content: Readable, mediaType: string): Promise<Descriptor>;
}

/**
 * A store that can take a blob from another repository of its registry without its bytes (the
 * distribution spec's cross-repository mount), and is sent `content` only when that fails.
 */
export interface Mounter {
  pushOrMount(desc: Descriptor, content: Readable, from: string): Promise<'mounted' | 'pushed'>;
}

export function canMount(target: object): target is Mounter {
  return typeof (target as Partial<Mounter>).pushOrMount === 'function';
}

export function canIngest(target: object): target is Ingester {
  return typeof (target as Partial<Ingester>).ingest === 'function';
}

export interface Deleter {
  delete(desc: Descriptor): Promise<void>;
}

/** A store that also names things: what copy reads from and writes to. */
export interface Target extends Storage, TagResolver {
  /** Human-readable name for messages, e.g. `oci:/tmp/layout` or `registry.example/repo`. */
  readonly name: string;
}
