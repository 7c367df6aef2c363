import { link as linkFile, unlink } from 'node:fs/promises';
import { join, posix } from 'node:path';
import { Readable } from 'node:stream';
import { createDigester, type Digest } from '../../oci/digest.ts';
import type { BackingFile } from '../../oci/backing-file.ts';
import { writeNewFile } from '../../oci/file-sink.ts';
import { reflinkFile } from '../../oci/shared-file.ts';
import { entryRefused } from './install-errors.ts';

/**
 * The union of an image's layers, applied in order as an overlay filesystem would (whiteouts `.wh.X`
 * and opaque `.wh..wh..opq` included), but kept as a map of paths: nothing but the few wanted files is
 * ever written, and those only as numbered files inside the staging directory. So no entry, however
 * crafted, can make kart create a symlink, a device, or write outside staging. Entries that a kernel
 * image never holds for a good reason (absolute paths, `..`, links leading outside, device nodes,
 * oversized or duplicated entries) refuse the whole image.
 */
export type LayerEntryType =
  'file' | 'directory' | 'symlink' | 'hardlink' | 'char-device' | 'block-device' | 'fifo' | 'other';

/** One tar entry as the install core needs it; `body` streams a file's bytes (drained when not kept). */
export interface LayerEntry {
  path: string;
  type: LayerEntryType;
  size: number;
  linkname: string;
  body?: Readable;
  /** where the body starts in the layer's (uncompressed) bytes */
  dataOffset?: number;
}

/** A file the last layer's pass wrote from one entry's body, byte for byte. */
export interface WrittenFile {
  path: string;
  /** where its bytes start in the layer's (uncompressed) bytes */
  dataOffset: number;
  size: number;
}

export interface StagedFile {
  /** where its bytes are, inside the staging directory */
  staged: string;
  size: number;
  digest: Digest;
  /** the layers (their names) it was made from: the one whose entry held its bytes, and a hardlink's own */
  layers: string[];
}

type Node =
  | { kind: 'directory'; layer: number }
  | { kind: 'file'; layer: number; file?: StagedFile }
  | { kind: 'symlink'; layer: number; target: string };

export interface ApplyLayerOptions {
  /** names the layer in messages (its digest) */
  layerName: string;
  /** uncompressed layers: no entry may claim more bytes than the whole layer holds */
  maxEntrySize?: number;
  /** a layer with more entries than this is refused (default 200,000) */
  maxEntries?: number;
  /** the file the layer's bytes are read from, where one entry's body is all of it (see shareBody) */
  backing?: BackingFile;
}

/** The most bytes a kept file may hold, by path; a larger claim refuses the image before a byte is written. */
export type FileLimits = (path: string) => number | undefined;

export const DEFAULT_MAX_LAYER_ENTRIES = 200_000;

const WHITEOUT_PREFIX = '.wh.';
const OPAQUE_MARKER = '.wh..wh..opq';

/**
 * The paths of the tree with an index of each directory's children, so that removing a path (which
 * every entry does, to replace what was there) costs what lies under it, not the whole tree: applying
 * a layer is linear in its entries.
 */
class PathMap {
  readonly #nodes = new Map<string, Node>();
  readonly #children = new Map<string, Set<string>>();

  get(path: string): Node | undefined {
    return this.#nodes.get(path);
  }
  has(path: string): boolean {
    return this.#nodes.has(path);
  }
  set(path: string, node: Node): void {
    if (!this.#nodes.has(path)) {
      const parent = parentOf(path);
      let siblings = this.#children.get(parent);
      if (siblings === undefined) this.#children.set(parent, (siblings = new Set()));
      siblings.add(path);
    }
    this.#nodes.set(path, node);
  }
  /** Removes `path` itself (its children stay indexed under it). */
  delete(path: string): void {
    if (!this.#nodes.delete(path)) return;
    const parent = parentOf(path);
    const siblings = this.#children.get(parent);
    siblings?.delete(path);
    if (siblings?.size === 0) this.#children.delete(parent);
  }
  /** Every path strictly under `dir` ('' for the root), deepest first. */
  descendants(dir: string): string[] {
    const out: string[] = [];
    const walk = (at: string): void => {
      for (const child of this.#children.get(at) ?? []) {
        walk(child);
        out.push(child);
      }
    };
    walk(dir);
    return out;
  }
}

function parentOf(path: string): string {
  const slash = path.lastIndexOf('/');
  return slash < 0 ? '' : path.slice(0, slash);
}

export class LayerTree {
  readonly #nodes = new PathMap();
  readonly #stagingDir: string;
  readonly #wanted: (path: string) => boolean;
  readonly #limits: FileLimits;
  /** wanted hardlinks whose target this layer did not keep: resolved by reading the layer again */
  #pendingLinks: { path: string; target: string; node: Node & { kind: 'file' }; layer: string }[] = [];
  #written: WrittenFile[] = [];
  #layer = -1;
  #counter = 0;

  constructor(stagingDir: string, wanted: (path: string) => boolean, limits: FileLimits = () => undefined) {
    this.#stagingDir = stagingDir;
    this.#wanted = wanted;
    this.#limits = limits;
  }

  /** Paths a wanted hardlink of the last layer names, whose bytes that layer's pass did not keep. */
  unresolvedLinkTargets(): Set<string> {
    return new Set(this.#pendingLinks.map((link) => link.target));
  }

  /**
   * A second pass over the last layer for its wanted hardlinks (e.g. `kernel/image` linked to
   * `boot/vmlinuz`, which nobody wanted when it went by): keeps the target's bytes for each of them.
   */
  async resolveLinks(entries: AsyncIterable<LayerEntry>, layerName: string): Promise<void> {
    const targets = this.unresolvedLinkTargets();
    for await (const entry of entries) {
      try {
        const path = normalizeEntryPath(entry.path, layerName);
        if (entry.type !== 'file' || !targets.has(path)) continue;
        targets.delete(path);
        const links = this.#pendingLinks.filter((link) => link.target === path);
        const first = links[0]!;
        this.#refuseOverLimit(first.path, entry.path, entry.size, layerName);
        const staged = this.#nextStagedPath();
        const file: StagedFile = {
          staged,
          size: entry.size,
          digest: await writeBody(entry, staged),
          layers: [layerName],
        };
        for (const [i, link] of links.entries()) {
          // Only a link still standing at the end of the layer gets the bytes.
          if (this.#nodes.get(link.path) !== link.node) continue;
          const own = i === 0 ? staged : this.#nextStagedPath();
          if (i > 0) await linkFile(staged, own);
          link.node.file = { ...file, staged: own };
        }
        if (targets.size === 0) break;
      } finally {
        if (entry.body !== undefined && !entry.body.readableEnded) entry.body.resume();
      }
    }
    this.#pendingLinks = [];
  }

  /**
   * The files the last layer's pass wrote, each from one entry's body as it was (the pull's cache can
   * then keep the layer as that file plus the bytes around it; see the cache's framed blobs).
   */
  writtenByLastLayer(): WrittenFile[] {
    return this.#written;
  }

  /** The file at `path` after every layer so far, when it is a kept regular file. */
  file(path: string): StagedFile | undefined {
    const node = this.#nodes.get(path);
    return node?.kind === 'file' ? node.file : undefined;
  }

  async applyLayer(entries: AsyncIterable<LayerEntry>, options: ApplyLayerOptions): Promise<void> {
    this.#layer += 1;
    this.#pendingLinks = [];
    this.#written = [];
    const seen = new Set<string>();
    const maxEntries = options.maxEntries ?? DEFAULT_MAX_LAYER_ENTRIES;
    let count = 0;
    for await (const entry of entries) {
      if (++count > maxEntries) {
        entry.body?.resume();
        throw entryRefused(
          options.layerName,
          entry.path,
          `the layer holds more than ${maxEntries} entries; a kernel image holds a handful`,
        );
      }
      try {
        await this.#apply(entry, seen, options);
      } finally {
        // Whatever happened, the body must not hold up the reader: drain what was not consumed.
        if (entry.body !== undefined && !entry.body.readableEnded) entry.body.resume();
      }
    }
  }

  async #apply(entry: LayerEntry, seen: Set<string>, options: ApplyLayerOptions): Promise<void> {
    const layer = options.layerName;
    const path = normalizeEntryPath(entry.path, layer);
    if (path === '') return; // the root itself (`./`): nothing to apply
    if (seen.has(path)) throw entryRefused(layer, entry.path, 'the path appears twice in this layer');
    seen.add(path);
    this.#refuseThroughSymlink(path, entry.path, layer);

    const name = posix.basename(path);
    const parent = posix.dirname(path) === '.' ? '' : posix.dirname(path);
    if (name === OPAQUE_MARKER) {
      await this.#removeLower(parent);
      return;
    }
    if (name.startsWith(WHITEOUT_PREFIX)) {
      await this.#remove(join2(parent, name.slice(WHITEOUT_PREFIX.length)));
      return;
    }

    switch (entry.type) {
      case 'char-device':
      case 'block-device':
        throw entryRefused(layer, entry.path, 'it is a device node');
      case 'fifo':
        throw entryRefused(layer, entry.path, 'it is a FIFO');
      case 'other':
        throw entryRefused(layer, entry.path, 'its tar entry type is not a file, directory or link');
      case 'directory':
        if (this.#nodes.get(path)?.kind !== 'directory') {
          await this.#remove(path);
          this.#makeParents(path);
          this.#nodes.set(path, { kind: 'directory', layer: this.#layer });
        }
        return;
      case 'symlink': {
        if (entry.linkname.startsWith('/')) {
          throw entryRefused(
            layer,
            entry.path,
            `it is a symlink to the absolute path ${entry.linkname}, which leads outside the image`,
          );
        }
        const target = resolveInside(join2(parent, entry.linkname));
        if (target === undefined) {
          throw entryRefused(
            layer,
            entry.path,
            `it is a symlink to ${entry.linkname}, which leads outside the image`,
          );
        }
        await this.#replace(path, { kind: 'symlink', layer: this.#layer, target });
        return;
      }
      case 'hardlink': {
        const target = entry.linkname.startsWith('/')
          ? undefined
          : resolveInside(entry.linkname.replace(/^(\.\/)+/, ''));
        if (target === undefined) {
          throw entryRefused(
            layer,
            entry.path,
            `it is a hardlink to ${entry.linkname}, which is outside the image`,
          );
        }
        const source = this.#nodes.get(target);
        if (source?.kind !== 'file') {
          throw entryRefused(
            layer,
            entry.path,
            `it is a hardlink to ${entry.linkname}, which is not a file in the image`,
          );
        }
        let file: StagedFile | undefined;
        if (this.#wanted(path) && source.file !== undefined) {
          const staged = this.#nextStagedPath();
          await linkFile(source.file.staged, staged);
          const layers = [...new Set([...source.file.layers, layer])];
          file = { staged, size: source.file.size, digest: source.file.digest, layers };
        }
        const node: Node & { kind: 'file' } = {
          kind: 'file',
          layer: this.#layer,
          ...(file === undefined ? {} : { file }),
        };
        await this.#replace(path, node);
        // A link to a file of this layer that was not kept: its bytes are read on a second pass.
        if (this.#wanted(path) && file === undefined && source.layer === this.#layer) {
          this.#pendingLinks.push({ path, target, node, layer });
        }
        return;
      }
      case 'file': {
        if (options.maxEntrySize !== undefined && entry.size > options.maxEntrySize) {
          throw entryRefused(
            layer,
            entry.path,
            `it claims ${entry.size} bytes, more than its whole layer holds (${options.maxEntrySize})`,
          );
        }
        let file: StagedFile | undefined;
        if (this.#wanted(path)) {
          this.#refuseOverLimit(path, entry.path, entry.size, layer);
          const staged = this.#nextStagedPath();
          const backing = options.backing;
          const digest =
            backing !== undefined && entry.dataOffset === backing.offset && entry.size === backing.size
              ? await shareBody(entry, backing.path, staged)
              : await writeBody(entry, staged);
          file = { staged, size: entry.size, digest, layers: [layer] };
          if (entry.dataOffset !== undefined) {
            this.#written.push({ path: staged, dataOffset: entry.dataOffset, size: entry.size });
          }
        }
        await this.#replace(path, {
          kind: 'file',
          layer: this.#layer,
          ...(file === undefined ? {} : { file }),
        });
        return;
      }
    }
  }

  #refuseOverLimit(path: string, raw: string, size: number, layer: string): void {
    const limit = this.#limits(path);
    if (limit !== undefined && size > limit) {
      throw entryRefused(layer, raw, `it claims ${size} bytes, over the ${limit}-byte limit for ${path}`);
    }
  }

  /** An entry whose parent is a symlink would, on a real filesystem, be written wherever that leads. */
  #refuseThroughSymlink(path: string, raw: string, layer: string): void {
    const parts = path.split('/');
    for (let i = 1; i < parts.length; i++) {
      const ancestor = parts.slice(0, i).join('/');
      if (this.#nodes.get(ancestor)?.kind === 'symlink') {
        throw entryRefused(
          layer,
          raw,
          `its parent ${ancestor} is a symlink, so the entry would be written through it`,
        );
      }
    }
  }

  async #replace(path: string, node: Node): Promise<void> {
    await this.#remove(path);
    await this.#makeParentsReplacingFiles(path);
    this.#nodes.set(path, node);
  }

  #makeParents(path: string): void {
    const parts = path.split('/');
    for (let i = 1; i < parts.length; i++) {
      const ancestor = parts.slice(0, i).join('/');
      if (!this.#nodes.has(ancestor)) this.#nodes.set(ancestor, { kind: 'directory', layer: this.#layer });
    }
  }

  async #makeParentsReplacingFiles(path: string): Promise<void> {
    const parts = path.split('/');
    for (let i = 1; i < parts.length; i++) {
      const ancestor = parts.slice(0, i).join('/');
      const node = this.#nodes.get(ancestor);
      if (node?.kind === 'file') await this.#remove(ancestor);
    }
    this.#makeParents(path);
  }

  /** Deletes `path` and everything under it. */
  async #remove(path: string): Promise<void> {
    const doomed = this.#nodes.has(path) ? [...this.#nodes.descendants(path), path] : [];
    for (const key of doomed) await this.#drop(key);
  }

  /** An opaque directory hides what lower layers put under it; this layer's own entries stay. */
  async #removeLower(dir: string): Promise<void> {
    for (const key of this.#nodes.descendants(dir)) {
      const node = this.#nodes.get(key);
      if (node !== undefined && node.layer < this.#layer) await this.#drop(key);
    }
    // A lower directory that still holds this layer's entries is this layer's directory now.
    for (const key of this.#nodes.descendants(dir)) this.#makeParents(key);
  }

  async #drop(key: string): Promise<void> {
    const node = this.#nodes.get(key);
    this.#nodes.delete(key);
    if (node?.kind === 'file' && node.file !== undefined) {
      const staged = node.file.staged;
      this.#written = this.#written.filter((file) => file.path !== staged);
      await unlink(staged).catch(() => undefined);
    }
  }

  #nextStagedPath(): string {
    this.#counter += 1;
    return join(this.#stagingDir, `.entry-${this.#counter}`);
  }
}

/** Strips `./` and a trailing `/`; refuses absolute paths, `..`, NUL. */
function normalizeEntryPath(raw: string, layer: string): string {
  if (raw.includes('\0')) throw entryRefused(layer, raw, 'its path holds a NUL byte');
  if (raw.startsWith('/')) throw entryRefused(layer, raw, 'its path is absolute');
  const parts = raw.split('/').filter((part) => part !== '' && part !== '.');
  if (parts.includes('..'))
    throw entryRefused(layer, raw, 'its path holds "..", which leads outside the image');
  return parts.join('/');
}

/** Resolves `.` and `..` of an image-relative path; undefined when it climbs above the image root. */
function resolveInside(path: string): string | undefined {
  const out: string[] = [];
  for (const part of path.split('/')) {
    if (part === '' || part === '.') continue;
    if (part === '..') {
      if (out.length === 0) return undefined;
      out.pop();
    } else {
      out.push(part);
    }
  }
  return out.join('/');
}

function join2(parent: string, name: string): string {
  return parent === '' ? name : `${parent}/${name}`;
}

/**
 * Writes a kept file's bytes (in large batched writes) and returns their digest. Not fsynced here: the
 * install core syncs every file it keeps at once before the swap (one wait for all, not one per layer
 * between downloads).
 */
/**
 * An entry whose body is the whole of the file its layer is read from (the pull cache keeps a one-file
 * layer that way): where the filesystem offers reflinks, the staged file is a clone of that file, so
 * its bytes are not written again; they are still read, hashed for the file's digest, and checked
 * with the rest of the layer against its digest before the install trusts them. Never a hard link:
 * two DESTs (or a DEST and another user's file) must not be one file, or a change to one would
 * change a kernel already verified and installed elsewhere. Without reflinks the body is written as
 * any other.
 */
async function shareBody(entry: LayerEntry, backing: string, staged: string): Promise<Digest> {
  if (!(await reflinkFile(backing, staged))) return writeBody(entry, staged);
  const hash = createDigester('sha256', 'content');
  for await (const chunk of entry.body ?? Readable.from([])) hash.update(chunk as Buffer);
  return `sha256:${hash.digest('hex')}`;
}

async function writeBody(entry: LayerEntry, staged: string): Promise<Digest> {
  const hash = createDigester('sha256', 'content');
  await writeNewFile(entry.body ?? Readable.from([]), staged, (chunk) => hash.update(chunk), {
    sync: false,
  });
  return `sha256:${hash.digest('hex')}`;
}
