import { Readable, Writable, pipeline as pipelineCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGzip } from 'node:zlib';
import {
  DigestingStream,
  type Ingester,
  MediaType,
  tarLayer,
  type Descriptor,
  type Digest,
  type Pusher,
} from '../../oci/index.ts';

/**
 * One artifact file as one layer: a tar holding `kernel/` then the file, uncompressed or gzip. A layer's
 * digest is known only once it has been produced, and no layer is ever held in memory. A store that
 * can ingest (a layout) takes each layer as it is produced, once. Any other store (a registry) gets it
 * produced twice from its deterministic inputs: once to hash it, once to push it against that digest;
 * the second pass is verified by the store, so an input that changed in between is refused.
 */
export type LayerCompressionOption = 'none' | 'gzip';

export interface ArtifactFile {
  /** path in the image, e.g. `kernel/image` */
  path: string;
  size: number;
  /** a file to read, or bytes already in memory (config.gz, metadata) */
  source: string | Buffer;
}

export interface MeasuredLayer {
  file: ArtifactFile;
  /** the layer descriptor, with its org.opencontainers.image.title annotation */
  descriptor: Descriptor;
  /** digest of the uncompressed tar (the config's rootfs.diff_ids entry) */
  diffId: Digest;
}

export const TITLE_ANNOTATION = 'org.opencontainers.image.title';

function tarOf(file: ArtifactFile, mtime: number): Readable {
  const source = file.source;
  return tarLayer(
    [
      {
        path: file.path,
        size: file.size,
        source: typeof source === 'string' ? source : () => Readable.from([source]),
      },
    ],
    { mtime },
  );
}

function produce(file: ArtifactFile, compression: LayerCompressionOption, mtime: number): Readable {
  const tar = tarOf(file, mtime);
  if (compression === 'none') return tar;
  // Node's gzip header has mtime 0 and no name, so the same tar always compresses to the same bytes.
  const gzip = createGzip({ level: 6 });
  tar.on('error', (error) => gzip.destroy(error));
  return tar.pipe(gzip);
}

/** Hashes a layer without storing it. */
export async function measureLayer(
  file: ArtifactFile,
  compression: LayerCompressionOption,
  mtime: number,
): Promise<MeasuredLayer> {
  const tar = tarOf(file, mtime);
  const diff = new DigestingStream();
  const blob = new DigestingStream();
  const sink = new Writable({ write: (_chunk, _enc, done) => done() });
  if (compression === 'none') await pipeline(tar, diff, sink);
  else await pipeline(tar, diff, createGzip({ level: 6 }), blob, sink);
  const digest = compression === 'none' ? diff.digest() : blob.digest();
  const size = compression === 'none' ? diff.bytes : blob.bytes;
  return {
    file,
    diffId: diff.digest(),
    descriptor: {
      mediaType: compression === 'none' ? MediaType.OciLayer : MediaType.OciLayerGzip,
      digest,
      size,
      annotations: { [TITLE_ANNOTATION]: file.path },
    },
  };
}

/** Produces a layer once, straight into a store that names content by the digest it computes. */
export async function ingestLayer(
  store: Ingester,
  file: ArtifactFile,
  compression: LayerCompressionOption,
  mtime: number,
): Promise<MeasuredLayer> {
  const diff = new DigestingStream();
  // pipeline() hands back its last stream and destroys the chain on any error, so a failing tar or
  // gzip fails the ingest, which then keeps nothing.
  const noop = () => undefined;
  const content =
    compression === 'none'
      ? pipelineCallback(tarOf(file, mtime), diff, noop)
      : pipelineCallback(tarOf(file, mtime), diff, createGzip({ level: 6 }), noop);
  const stored = await store.ingest(
    content,
    compression === 'none' ? MediaType.OciLayer : MediaType.OciLayerGzip,
  );
  return {
    file,
    diffId: diff.digest(),
    descriptor: { ...stored, annotations: { [TITLE_ANNOTATION]: file.path } },
  };
}

/** Produces the layer again and pushes it against its measured descriptor. */
export async function pushLayer(
  store: Pusher,
  layer: MeasuredLayer,
  compression: LayerCompressionOption,
  mtime: number,
): Promise<void> {
  await store.push(layer.descriptor, produce(layer.file, compression, mtime));
}

/**
 * The file a layer carries, as its descriptor names it (undefined when it names none). Every reader
 * that needs to know which layer holds which file (inspect, check) asks this one function.
 */
export function layerFilePath(layer: Pick<Descriptor, 'annotations'>): string | undefined {
  return layer.annotations?.[TITLE_ANNOTATION];
}
