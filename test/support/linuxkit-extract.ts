/**
 * How LinuxKit reads a kernel image, replayed: `linuxkit build` flattens the image with
 * go-containerregistry's `mutate.Extract` (pkg/v1/mutate/mutate.go `extract`) and passes every entry
 * of the result to its kernelFilter (linuxkit moby/build/build.go), which takes the entry named
 * `kernel` as the kernel binary and the entry named `kernel.tar` as the modules tar.
 *
 * extract walks the layers from the last to the first, `filepath.Clean`s each name (so `kernel/`
 * becomes `kernel`), keeps the first entry it sees for a name (later layers win), drops whiteouts
 * and anything under a whited-out or replaced-by-a-file path, and writes the rest.
 */
import { readFileSync } from 'node:fs';
import { join, posix } from 'node:path';
import { Readable } from 'node:stream';
import { gunzipSync } from 'node:zlib';
import { readTar, type TarEntryType } from '../../src/oci/tar-reader.ts';

export interface ExtractedEntry {
  name: string;
  type: TarEntryType;
  body: Buffer;
}

const WHITEOUT = '.wh.';

/** Go's filepath.Clean for the relative names of a layer. */
function clean(name: string): string {
  const normal = posix.normalize(name);
  const trimmed = normal.length > 1 ? normal.replace(/\/+$/, '') : normal;
  return trimmed === '' ? '.' : trimmed;
}

function inWhiteoutDir(seen: Map<string, boolean>, name: string): boolean {
  for (let file = name; file !== '';) {
    const dir = posix.dirname(file);
    if (dir === file) break;
    if (seen.get(dir) === true) return true;
    file = dir;
  }
  return false;
}

/** The flattened entries of a platform manifest in an OCI layout, in the order extract writes them. */
export async function extractLikeMutate(
  layoutDir: string,
  manifestDigest: string,
): Promise<ExtractedEntry[]> {
  const blob = (digest: string) => readFileSync(join(layoutDir, 'blobs', ...digest.split(':')));
  const manifest = JSON.parse(blob(manifestDigest).toString()) as {
    layers: { mediaType: string; digest: string }[];
  };
  const seen = new Map<string, boolean>();
  const out: ExtractedEntry[] = [];
  for (const layer of [...manifest.layers].reverse()) {
    const raw = blob(layer.digest);
    const bytes = layer.mediaType.endsWith('+gzip') ? gunzipSync(raw) : raw;
    for await (const entry of readTar(Readable.from([bytes]))) {
      const cleaned = clean(entry.path);
      let base = posix.basename(cleaned);
      const tombstone = base.startsWith(WHITEOUT);
      if (tombstone) base = base.slice(WHITEOUT.length);
      const name = entry.type === 'dir' ? cleaned : posix.join(posix.dirname(cleaned), base);
      if (seen.has(name) || inWhiteoutDir(seen, name)) continue;
      seen.set(name, tombstone || entry.type !== 'dir');
      if (tombstone) continue;
      const chunks: Buffer[] = [];
      for await (const chunk of entry.body as AsyncIterable<Buffer>) chunks.push(chunk);
      out.push({ name: cleaned, type: entry.type, body: Buffer.concat(chunks) });
    }
  }
  return out;
}

/** What LinuxKit's kernelFilter takes with its defaults (`kernel: kernel`, `tar: kernel.tar`). */
export function linuxKitPicks(entries: readonly ExtractedEntry[]): {
  kernel?: ExtractedEntry;
  tar?: ExtractedEntry;
} {
  const kernel = entries.find((entry) => entry.name === 'kernel');
  const tar = entries.find((entry) => entry.name === 'kernel.tar');
  return { ...(kernel === undefined ? {} : { kernel }), ...(tar === undefined ? {} : { tar }) };
}

/** The names of the regular files in a tar held in memory. */
export async function tarFileNames(bytes: Buffer): Promise<string[]> {
  const names: string[] = [];
  for await (const entry of readTar(Readable.from([bytes])))
    if (entry.type === 'file') names.push(entry.path);
  return names;
}
