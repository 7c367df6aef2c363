import { createWriteStream } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import { isKartError, KartError } from '../../errors.ts';
import { readBounded } from '../../oci/bounded-read.ts';
import { DigestingStream, type Descriptor, type Digest, type Fetcher } from '../../oci/index.ts';
import { readTar } from '../../oci/tar-reader.ts';
import { annotatedLayerFile } from '../artifact/layer-files.ts';
import { MAX_METADATA_BYTES, parseKernelMetadata } from '../artifact/metadata.ts';
import { readKernelConfigStream } from '../config/index.ts';
import type { KernelConfigWithLines } from '../config/types.ts';
import { readEmbeddedConfig } from '../image/embedded-config.ts';
import { ByteLimit, DEFAULT_INSTALL_LIMITS } from '../install/install-limits.ts';
import { asLayerError, checkLayerInvalid, readLayerFiles } from '../artifact/read-layer-files.ts';

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
  let withoutIkconfig: string | undefined;
  for (const layer of [...layers].reverse()) {
    const found = await readFromLayer(
      store,
      layer,
      source,
      (path) =>
        path === CONFIG_PATH || path === LINUXKIT_DEV || KERNEL_PATHS.has(path) || path === METADATA_PATH,
      (seen) => (metadata ??= seen),
      (what) => (withoutIkconfig ??= what),
    );
    if (found !== undefined) return { ...found, ...(metadata === undefined ? {} : { metadata }) };
  }
  throw new KartError(
    'CHECK_NO_CONFIG',
    `${source} holds no kernel config: no ${CONFIG_PATH} layer, no LinuxKit ${LINUXKIT_DEV}, and no kernel image with an embedded config${withoutIkconfig === undefined ? '' : ` (${withoutIkconfig} was built without CONFIG_IKCONFIG)`}`,
    {
      exitCode: 2,
      hint: "check the kernel's .config directly: kart check --flavor F path/to/.config",
    },
  );
}

/**
 * Reads one layer to its end (so it is verified) and returns the config it holds, preferring a
 * config file over a kernel image's IKCONFIG when the layer has both. Only the files named below are
 * read; a kernel image is spooled (within install's kernel limit) because its embedded config is
 * found through its header at known offsets.
 */
async function readFromLayer(
  store: Fetcher,
  layer: Descriptor,
  source: string,
  want: (path: string) => boolean,
  onMetadata?: (metadata: NonNullable<PublishedConfig['metadata']>) => void,
  onNoIkconfig?: (what: string) => void,
): Promise<PublishedConfig | undefined> {
  let fromFile: { bytes: Buffer; digest: Digest; from: string } | undefined;
  let kernelFile: { path: string; dir: string } | undefined;
  try {
    await readLayerFiles(store, layer, source, want, async (path, body) => {
      if (path === METADATA_PATH) {
        onMetadata?.(await readMetadataFile(body, `${source} ${path}`));
      } else if (path === CONFIG_PATH) {
        fromFile = { ...(await collectConfig(body, true, source, layer, path)), from: path };
      } else if (path === LINUXKIT_DEV) {
        const config = await linuxKitConfig(body, source, layer);
        if (config !== undefined) fromFile = { ...config, from: path };
      } else if (fromFile === undefined && kernelFile === undefined) {
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
      const from = `${kernelFile.path} (IKCONFIG)`;
      const spooled = join(kernelFile.dir, 'kernel');
      const named = `${source} layer ${layer.digest} ${kernelFile.path}`;
      let embedded;
      try {
        embedded = await readEmbeddedConfig(spooled);
      } catch (error) {
        if (isKartError(error, 'IMAGE_NO_IKCONFIG')) {
          onNoIkconfig?.(`${kernelFile.path} in layer ${layer.digest}`);
          return undefined;
        }
        throw renamed(error, spooled, named);
      }
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

/**
 * An error about the spooled copy of a layer's kernel image, told about the image the user named:
 * the reference and layer instead of a temporary file that no longer exists.
 */
function renamed(error: unknown, spooled: string, named: string): unknown {
  if (!(error instanceof KartError)) return error;
  // A published image that does not hold what it says is a failed check (exit 1), not bad input.
  return new KartError(error.code, error.message.replaceAll(spooled, named), {
    exitCode: 1,
    hint: 'the published kernel image is damaged; publish it again',
    ...(error.details === undefined ? {} : { details: error.details }),
    cause: error,
  });
}

/**
 * A .config held in memory with its digest, read through install's config limit (checked on the
 * decompressed bytes too: a small config.gz may claim a huge config).
 */
async function collectConfig(
  body: Readable,
  gzipped: boolean,
  source: string,
  layer: Descriptor,
  path: string,
): Promise<{ bytes: Buffer; digest: Digest }> {
  const limit = DEFAULT_INSTALL_LIMITS.configBytes;
  const digesting = new DigestingStream();
  const chunks: Buffer[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      chunks.push(chunk);
      done();
    },
  });
  try {
    await pipeline([
      body,
      ...(gzipped ? [createGunzip()] : []),
      new ByteLimit(limit, () =>
        checkLayerInvalid(
          source,
          layer,
          `holds a ${path} larger than ${limit} bytes; no kernel config is that large`,
        ),
      ),
      digesting,
      sink,
    ]);
  } catch (error) {
    throw asLayerError(error as Error, source, layer, `holds a ${path} that does not`);
  }
  return { bytes: Buffer.concat(chunks), digest: digesting.digest() };
}

/** kernel-dev.tar is streamed, never kept: only its usr/src/<dir>/.config is read. */
async function linuxKitConfig(
  body: Readable,
  source: string,
  layer: Descriptor,
): Promise<{ bytes: Buffer; digest: Digest } | undefined> {
  let found: { bytes: Buffer; digest: Digest } | undefined;
  for await (const entry of readTar(body)) {
    const path = entry.path.replace(/^(\.\/)+/, '');
    if (found === undefined && entry.type === 'file' && LINUXKIT_CONFIG.test(path)) {
      found = await collectConfig(entry.body, false, source, layer, `${LINUXKIT_DEV} ${path}`);
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
