import { createWriteStream } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import { KartError } from '../../errors.ts';
import { readBounded } from '../../oci/bounded-read.ts';
import { DigestingStream, type Descriptor, type Digest, type Fetcher } from '../../oci/index.ts';
import { readTar } from '../../oci/tar-reader.ts';
import { annotatedLayerFile } from '../artifact/layer-files.ts';
import { MAX_METADATA_BYTES, parseKernelMetadata } from '../artifact/metadata.ts';
import { readKernelConfigStream } from '../config/index.ts';
import type { KernelConfigWithLines } from '../config/types.ts';
import { readEmbeddedConfig } from '../image/embedded-config.ts';
import { readLayerFiles } from './layer-files.ts';

/**
 * The kernel config of one published platform, downloading as little as the image allows: the layer
 * that carries `kernel/config.gz` alone when a layer says it does; otherwise each layer in turn, last
 * first (later layers win), for a `kernel/config.gz`, a LinuxKit `kernel-dev.tar`
 * (usr/src/linux-headers-<release>/.config), or the kernel image's embedded config (IKCONFIG).
 */
export interface PublishedConfig {
  config: KernelConfigWithLines;
  /** sha256 of the uncompressed .config (what KERNEL_CONFIG names) */
  digest: Digest;
  /** kernel/config.gz, kernel-dev.tar or "<kernel path> (IKCONFIG)" */
  from: string;
  layer: Digest;
  /**
   * KERNEL_CONFIG and KERNEL_ARCH of a kernel/metadata met while searching layers no descriptor
   * names (when one names kernel/metadata, the caller reads that layer instead)
   */
  metadata?: { arch: string; configDigest: Digest };
}

export const CONFIG_PATH = 'kernel/config.gz';
export const METADATA_PATH = 'kernel/metadata';
const LINUXKIT_DEV = 'kernel-dev.tar';
const KERNEL_PATHS = new Set(['kernel/image', 'kernel']);
const LINUXKIT_CONFIG = /^usr\/src\/[^/]+\/\.config$/;

/** `source` names the platform in messages, e.g. `registry/repo@sha256:… (linux/amd64)`. */
export async function readPublishedConfig(
  store: Fetcher,
  layers: readonly Descriptor[],
  source: string,
): Promise<PublishedConfig> {
  const named = layers.find((layer) => annotatedLayerFile(layer) === CONFIG_PATH);
  if (named !== undefined) {
    const found = await readFromLayer(store, named, source, (path) => path === CONFIG_PATH);
    if (found === undefined) {
      throw new KartError(
        'KERNEL_ARTIFACT_INVALID',
        `${source}: layer ${named.digest} says it carries ${CONFIG_PATH}, but it holds no such file`,
        { exitCode: 1, hint: 'the image is damaged or mislabelled; publish it again' },
      );
    }
    return found;
  }
  let metadata: PublishedConfig['metadata'];
  for (const layer of [...layers].reverse()) {
    const found = await readFromLayer(
      store,
      layer,
      source,
      (path) =>
        path === CONFIG_PATH || path === LINUXKIT_DEV || KERNEL_PATHS.has(path) || path === METADATA_PATH,
      (seen) => (metadata ??= seen),
    );
    if (found !== undefined) return { ...found, ...(metadata === undefined ? {} : { metadata }) };
  }
  throw new KartError(
    'CHECK_NO_CONFIG',
    `${source} holds no kernel config: no ${CONFIG_PATH} layer, no LinuxKit ${LINUXKIT_DEV}, and no kernel image with an embedded config`,
    {
      exitCode: 2,
      hint: "check the kernel's .config directly: kart check --flavor F path/to/.config",
    },
  );
}

/**
 * Reads one layer to its end (so it is verified) and returns the config it holds, preferring a
 * config file over a kernel image's IKCONFIG when the layer has both.
 */
async function readFromLayer(
  store: Fetcher,
  layer: Descriptor,
  source: string,
  want: (path: string) => boolean,
  onMetadata?: (metadata: NonNullable<PublishedConfig['metadata']>) => void,
): Promise<PublishedConfig | undefined> {
  let fromFile: { bytes: Buffer; digest: Digest; from: string } | undefined;
  let kernelFile: { path: string; dir: string } | undefined;
  try {
    await readLayerFiles(store, layer, want, async (path, body) => {
      if (path === METADATA_PATH) {
        onMetadata?.(await readMetadataFile(body, `${source} ${path}`));
      } else if (path === CONFIG_PATH) {
        fromFile = { ...(await collect(body.pipe(createGunzip()), `${source} ${path}`)), from: path };
      } else if (path === LINUXKIT_DEV) {
        const config = await linuxKitConfig(body, `${source} ${path}`);
        if (config !== undefined) fromFile = { ...config, from: path };
      } else if (fromFile === undefined && kernelFile === undefined) {
        // The image's embedded config needs its header at known offsets: spool it to a file.
        const dir = await mkdtemp(join(tmpdir(), 'kart-check-'));
        kernelFile = { path, dir };
        await pipeline(body, createWriteStream(join(dir, 'kernel')));
      }
    });
    if (fromFile !== undefined) {
      return {
        ...fromFile,
        config: await parse(fromFile.bytes, `${source} ${fromFile.from}`),
        layer: layer.digest,
      };
    }
    if (kernelFile !== undefined) {
      const embedded = await readEmbeddedConfig(join(kernelFile.dir, 'kernel'));
      const from = `${kernelFile.path} (IKCONFIG)`;
      return {
        config: await parse(embedded.bytes, `${source} ${from}`),
        digest: embedded.digest,
        from,
        layer: layer.digest,
      };
    }
    return undefined;
  } finally {
    if (kernelFile !== undefined) await rm(kernelFile.dir, { recursive: true, force: true });
  }
}

/** A .config held in memory (bounded by the config reader's limit) with its digest. */
async function collect(body: Readable, what: string): Promise<{ bytes: Buffer; digest: Digest }> {
  const digesting = new DigestingStream();
  const chunks: Buffer[] = [];
  let size = 0;
  try {
    for await (const chunk of body.pipe(digesting) as AsyncIterable<Buffer>) {
      size += chunk.length;
      if (size > MAX_PUBLISHED_CONFIG) {
        throw new KartError(
          'CONFIG_INVALID',
          `${what} is larger than ${MAX_PUBLISHED_CONFIG} bytes; this is no kernel config`,
          {
            exitCode: 2,
            hint: 'the image does not hold a kernel config where it says it does',
          },
        );
      }
      chunks.push(chunk);
    }
  } catch (error) {
    if (error instanceof KartError) throw error;
    throw new KartError(
      'KERNEL_ARTIFACT_INVALID',
      `${what} does not decompress: ${(error as Error).message}`,
      {
        exitCode: 1,
        hint: 'the image is damaged; publish it again',
      },
    );
  }
  return { bytes: Buffer.concat(chunks, size), digest: digesting.digest() };
}

/** A .config is a few hundred KB: the config reader's own bound. */
const MAX_PUBLISHED_CONFIG = 32 * 1024 * 1024;

async function linuxKitConfig(
  body: Readable,
  what: string,
): Promise<{ bytes: Buffer; digest: Digest } | undefined> {
  let found: { bytes: Buffer; digest: Digest } | undefined;
  for await (const entry of readTar(body)) {
    const path = entry.path.replace(/^(\.\/)+/, '');
    if (found === undefined && entry.type === 'file' && LINUXKIT_CONFIG.test(path)) {
      found = await collect(entry.body, `${what} ${path}`);
    }
  }
  return found;
}

function parse(bytes: Buffer, source: string): Promise<KernelConfigWithLines> {
  return readKernelConfigStream(Readable.from([bytes]), source, { whole: true });
}

/** kernel/metadata's arch and KERNEL_CONFIG (a few hundred bytes; refused past MAX_METADATA_BYTES). */
export async function readMetadataFile(
  body: Readable,
  what: string,
): Promise<{ arch: string; configDigest: Digest }> {
  const bytes = await readBounded(
    body,
    MAX_METADATA_BYTES,
    () =>
      new KartError('KERNEL_ARTIFACT_INVALID', `${what} is larger than ${MAX_METADATA_BYTES} bytes`, {
        exitCode: 1,
        hint: 'the image is damaged; publish it again',
      }),
  );
  const metadata = parseKernelMetadata(bytes, what);
  return { arch: metadata.arch, configDigest: metadata.configDigest as Digest };
}
