import type { Descriptor, Fetcher } from '../../oci/index.ts';
import type { TarEntry } from '../../oci/tar-reader.ts';
import { readLayerFiles } from './read-layer-files.ts';

/**
 * Which file a layer holds, the one answer inspect, publish and `kart check REF` use (check through
 * annotatedLayerFile; its fallback reads several candidate files at once with readLayerFiles).
 *
 * kart names the file in its own annotation, LAYER_FILE_ANNOTATION. It no longer writes
 * `org.opencontainers.image.title` on tar layers: ORAS reads that as "this blob *is* the file of that
 * name" and would save the tar archive under it. Images kart wrote before still carry the title, so it
 * is read as the second choice. Images with neither (linux-kernel-oci's buildx output, or any image
 * after a default `skopeo copy`, which drops layer annotations) are answered from the layer itself:
 * its tar headers are streamed and every body is skipped, never kept.
 */
export const LAYER_FILE_ANNOTATION = 'dev.edera.kernel.file';
/** read on images kart wrote before LAYER_FILE_ANNOTATION (and on other producers' layers) */
export const TITLE_ANNOTATION = 'org.opencontainers.image.title';

export interface LayerFiles {
  /** image paths of the regular files in the layer (`kernel/image`, or LinuxKit's `kernel`), in order */
  files: string[];
  /** where the answer came from */
  from: 'annotation' | 'title' | 'tar';
  /** with `read`: that file's bytes, when the layer holds it and it is within `maxBytes` */
  content?: Buffer;
}

export interface LayerFilesOptions {
  /** also return this file's bytes (read in the same pass when the tar is read anyway) */
  read?: string;
  /** the most bytes `read` may have; a larger file is listed but not returned */
  maxBytes?: number;
}

/** The file a layer's descriptor names, without fetching anything; undefined when it names none. */
export function annotatedLayerFile(layer: Descriptor): string | undefined {
  return layer.annotations?.[LAYER_FILE_ANNOTATION] ?? layer.annotations?.[TITLE_ANNOTATION];
}

/** The annotation a layer that carries `path` gets. */
export function layerFileAnnotation(path: string): Record<string, string> {
  return { [LAYER_FILE_ANNOTATION]: path };
}

/**
 * The files `layer` holds: from its annotation when it has one (no fetch unless `read` asks for that
 * file's bytes), else from its tar headers, streamed from `source` with the bodies skipped.
 */
export async function layerFiles(
  source: Fetcher,
  layer: Descriptor,
  options: LayerFilesOptions = {},
): Promise<LayerFiles> {
  const annotated = layer.annotations?.[LAYER_FILE_ANNOTATION];
  const titled = layer.annotations?.[TITLE_ANNOTATION];
  const named = annotated ?? titled;
  if (named !== undefined) {
    const from = annotated !== undefined ? 'annotation' : 'title';
    if (options.read !== named) return { files: [named], from };
    const scanned = await scanLayer(source, layer, options);
    return { files: [named], from, ...(scanned.content === undefined ? {} : { content: scanned.content }) };
  }
  return { ...(await scanLayer(source, layer, options)), from: 'tar' };
}

/**
 * The first of `layers` that holds `path` (e.g. `kernel/config.gz`), with the file's bytes when
 * `maxBytes` allows: annotated layers are matched without a fetch; the others are read in order.
 */
export async function findLayerFile(
  source: Fetcher,
  layers: readonly Descriptor[],
  path: string,
  maxBytes: number,
): Promise<{ layer: Descriptor; content?: Buffer } | undefined> {
  const named = layers.find((layer) => annotatedLayerFile(layer) === path);
  const candidates =
    named !== undefined ? [named] : layers.filter((layer) => annotatedLayerFile(layer) === undefined);
  for (const layer of candidates) {
    const found = await layerFiles(source, layer, { read: path, maxBytes });
    if (!found.files.includes(path)) continue;
    return { layer, ...(found.content === undefined ? {} : { content: found.content }) };
  }
  return undefined;
}

/**
 * One pass over the layer's tar (readLayerFiles: read to the end, so the names and bytes returned are
 * of a layer whose digest matched): file paths (without `./`), and `read`'s bytes when asked.
 */
async function scanLayer(
  source: Fetcher,
  layer: Descriptor,
  options: LayerFilesOptions,
): Promise<{ files: string[]; content?: Buffer }> {
  const files: string[] = [];
  let content: Buffer | undefined;
  const want = (path: string, entry: TarEntry): boolean => {
    if (entry.type !== 'file' && entry.type !== 'hardlink') return false;
    // Whiteouts mark deletions of lower layers' files; they are not files of this layer.
    if (path.split('/').at(-1)?.startsWith('.wh.')) return false;
    files.push(path);
    return path === options.read && entry.size <= (options.maxBytes ?? 0);
  };
  await readLayerFiles(source, layer, `layer ${layer.digest}`, want, async (_path, body) => {
    const chunks: Buffer[] = [];
    for await (const chunk of body as AsyncIterable<Buffer>) chunks.push(chunk);
    content = Buffer.concat(chunks);
  });
  return { files, ...(content === undefined ? {} : { content }) };
}
