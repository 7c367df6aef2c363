import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KartError } from '../../errors.ts';
import { canIngest, canUpdateTag, MediaType, type Descriptor, type Target } from '../../oci/index.ts';
import {
  abortableIngester,
  observedPusher,
  throwIfAborted,
  type TransferOptions,
} from '../../oci/transfer-observer.ts';
import { descriptorOf, pushBytes } from '../../oci/manifest-io.ts';
import { buildAddonsFromModules, inspectSquashfs } from '../addons/index.ts';
import { checkConfig, loadFlavor, type CheckReport } from '../flavor/index.ts';
import { inspectKernelImage, type KernelImageInfo } from '../image/index.ts';
import { assertValidTag, parsePublishVersion, versionFromRelease } from '../tags/index.ts';
import { discoverBuildInputs, type BuildInputChoice, type BuildInputOptions } from './build-inputs.ts';
import { readConfigPayload, type ConfigPayload } from './config-payload.ts';
import { mergePlatformEntry, readTagIndex } from './tag-index.ts';
import {
  ingestLayer,
  measureLayer,
  pushLayer,
  type ArtifactFile,
  type LayerCompressionOption,
  type MeasuredLayer,
} from './kernel-layers.ts';
import { ociArchOf, parseArchOption, type OciKernelArch } from './kernel-platform.ts';
import { formatKernelMetadata, type KernelMetadata } from './metadata.ts';
import { linuxKitFiles } from './linuxkit-files.ts';

/**
 * `kart pack` as a library function: a kernel build → the format-v1 artifact in any Target (an OCI
 * layout by default), tagged. Everything that can be refused is checked before the first byte is
 * written (inputs, version, annotations, architecture, the config, flavor requirements, addons size,
 * tags), so a refused pack leaves the target exactly as it was; given as a function, the target is not
 * even opened (a new layout directory is not created). Blobs are content-addressed: what a push that
 * failed midway left is unreferenced and harmless.
 */
export interface PackKernelOptions extends BuildInputOptions {
  /** flavor name (shipped) or flavor file path: KERNEL_FLAVOR, the checks and the addons limit */
  flavor: string;
  /** skip the flavor's requirements (the config is still read and must parse; the addons limit applies) */
  noCheck?: boolean;
  /** the build's config, already read by the caller (publish reads it first to name its tags) */
  configPayload?: ConfigPayload;
  /**
   * KERNEL_VERSION; default the numeric X.Y.Z prefix of the image's release. A kernel release version
   * (6.1.10, 7.3.0-rc3, 6.18.44-nvidia-595.91.07), as publish requires; else VERSION_INVALID.
   */
  version?: string;
  /** default: sniffed from the image; given and different from the image: refused */
  arch?: string;
  /**
   * extra manifest annotations (k=v); they override kart's org.opencontainers.image.* values. A
   * dev.edera.kernel.* key is refused (ANNOTATION_RESERVED): consumers read the format, version and
   * flavor from those, so only --version and --flavor set them.
   */
  annotations?: Record<string, string>;
  /**
   * `kart` (default): format v1, `kernel/{image,config.gz,addons.squashfs,metadata}`. `linuxkit`:
   * LinuxKit's kernel image shape (linuxkit-files.ts), modules from `modules` as kernel.tar.
   */
  format?: PackFormat;
  /** linuxkit format: a System.map to ship beside the kernel */
  systemMap?: string;
  /** the tags to point at the index (first is the output tag); all go into KERNEL_TAGS */
  tags: string[];
  compress?: LayerCompressionOption;
  /** SOURCE_DATE_EPOCH: tar mtimes, `created`, history times; default 0 mtimes, history at the epoch, no `created` */
  sourceDateEpoch?: number;
  /** org.opencontainers.image.source / revision, when known */
  sourceUrl?: string;
  revision?: string;
  /** called with each decision about inputs, and when mksquashfs runs */
  onProgress?: (message: string) => void;
  /** stops the pack between steps and mid-layer (ABORTED); the tags are written last, so none moves */
  signal?: AbortSignal;
  /** bytes of each layer as it is pushed to a store that does not ingest (a registry) */
  onTransfer?: TransferOptions['onTransfer'];
  /** a Kata guest bundle's rootfs image: one more layer before kernel/metadata, its keys and annotations */
  bundle?: PackBundlePart;
}

/** What a guest bundle adds (src/guest/bundle prepares it; kart's own keys, so not user annotations). */
export interface PackBundlePart {
  path: string;
  file: string;
  size: number;
  metadata: Record<string, string>;
  annotations: Record<string, string>;
}

export interface PackedFile {
  path: string;
  size: number;
  layer: Descriptor;
}

export interface PackKernelResult {
  target: string;
  platform: { os: 'linux'; architecture: OciKernelArch };
  manifest: Descriptor;
  config: Descriptor;
  indexes: { tag: string; index: Descriptor; platforms: string[] }[];
  files: PackedFile[];
  metadata: KernelMetadata;
  image: KernelImageInfo;
  choices: BuildInputChoice[];
  check?: CheckReport;
  annotations: Record<string, string>;
}

export type PackFormat = 'kart' | 'linuxkit';

const FORMAT_ANNOTATION = 'dev.edera.kernel.format';
const VERSION_ANNOTATION = 'dev.edera.kernel.version';
const FLAVOR_ANNOTATION = 'dev.edera.kernel.flavor';
/**
 * sha256 of the uncompressed .config, the same value as kernel/metadata's KERNEL_CONFIG (both formats:
 * LinuxKit's has no metadata, only this): `kart check REF` learns what the image claims from the
 * manifest it already has, so the config layer is the one blob it downloads.
 */
export const CONFIG_DIGEST_ANNOTATION = 'dev.edera.kernel.config';
const RESERVED_ANNOTATION_PREFIX = 'dev.edera.kernel.';

/**
 * Where the artifact goes: a store, or a function that opens it, called only once every check has
 * passed (so `kart pack -o oci:NEW:TAG` that is refused does not leave a NEW layout behind).
 */
export type PackTarget = Target | (() => Promise<Target>);

export async function packKernel(
  options: PackKernelOptions,
  packTarget: PackTarget,
): Promise<PackKernelResult> {
  if (options.tags.length === 0) {
    throw new KartError('PACK_TAG_MISSING', 'no tag to pack under', {
      hint: 'give the output as oci:DIR:TAG or add --tag',
    });
  }
  const tags = [...new Set(options.tags)];
  for (const tag of tags) assertValidTag(tag, 'tag');
  const mtime = options.sourceDateEpoch ?? 0;
  if (!Number.isSafeInteger(mtime) || mtime < 0) {
    throw new KartError(
      'SOURCE_DATE_EPOCH_INVALID',
      `SOURCE_DATE_EPOCH "${options.sourceDateEpoch}" is not a Unix time in seconds`,
      {
        hint: 'set SOURCE_DATE_EPOCH to whole seconds, e.g. $(git log -1 --format=%ct)',
      },
    );
  }
  const compression = options.compress ?? 'none';
  if (options.version !== undefined) parsePublishVersion(options.version);
  const reserved = Object.keys(options.annotations ?? {}).filter((key) =>
    key.startsWith(RESERVED_ANNOTATION_PREFIX),
  );
  if (reserved.length > 0) {
    throw new KartError(
      'ANNOTATION_RESERVED',
      `annotation ${reserved.join(', ')} cannot be set: ${RESERVED_ANNOTATION_PREFIX}* annotations are kart's own (format, version, flavor, config), read by every consumer`,
      {
        hint: 'drop the annotation; set the version with --version and the flavor with --flavor',
        details: { annotations: reserved },
      },
    );
  }

  const inputs = await discoverBuildInputs(options);
  const flavor = await loadFlavor(options.flavor);
  const image = await inspectKernelImage(inputs.kernel);
  const sniffed = ociArchOf(image.arch);
  if (options.arch !== undefined && parseArchOption(options.arch) !== sniffed) {
    throw new KartError(
      'ARCH_MISMATCH',
      `--arch ${options.arch} was given, but ${inputs.kernel} is an ${image.arch} kernel (linux/${sniffed})`,
      { hint: 'drop --arch (kart reads it from the image) or pass the kernel built for that architecture' },
    );
  }
  const version = options.version ?? versionFromRelease(image.release);
  if (version === undefined) {
    throw new KartError(
      'VERSION_UNKNOWN',
      `cannot tell the kernel version from its release "${image.release}"`,
      {
        hint: 'pass --version X.Y.Z',
      },
    );
  }

  // Read and parsed even with --no-check: that skips the flavor's requirements, not knowing that the
  // file packed as kernel/config.gz is a kernel config.
  const config = options.configPayload ?? (await readConfigPayload(inputs.config));
  let check: CheckReport | undefined;
  if (!options.noCheck) {
    check = checkConfig(config.config, [flavor]);
    if (!check.ok) {
      const failures = check.flavors.flatMap((result) => result.failures.map((failure) => failure.message));
      throw new KartError(
        'REQUIREMENTS_UNMET',
        `${inputs.config} does not meet flavor ${flavor.name} (${failures.length} requirement${failures.length === 1 ? '' : 's'} failed):\n  ${failures.join('\n  ')}`,
        { exitCode: 1, hint: 'fix the config, or pack with --no-check', details: { failures } },
      );
    }
  }

  const format = options.format ?? 'kart';
  if (format === 'linuxkit' && inputs.addons?.kind === 'squashfs') {
    throw new KartError(
      'PACK_FORMAT_INPUT',
      `--format linuxkit ships the modules as kernel.tar, a tar of lib/modules, and cannot use the addons squashfs ${inputs.addons.path}`,
      { hint: 'pass the modules tree with --modules instead of --addons' },
    );
  }
  if (format === 'kart' && options.systemMap !== undefined) {
    throw new KartError('PACK_FORMAT_INPUT', 'a System.map is shipped only by --format linuxkit', {
      hint: 'drop --system-map, or pack with --format linuxkit',
    });
  }

  const work = await mkdtemp(join(tmpdir(), 'kart-pack-'));
  try {
    let addonsPath: string | undefined;
    if (inputs.addons?.kind === 'squashfs') {
      addonsPath = inputs.addons.path;
      await inspectSquashfs(addonsPath);
    } else if (inputs.addons?.kind === 'modules' && format === 'kart') {
      options.onProgress?.(`packing modules ${inputs.addons.path} with mksquashfs`);
      const built = await buildAddonsFromModules(inputs.addons.path, join(work, 'addons.squashfs'), {
        sourceDateEpoch: mtime,
      });
      addonsPath = built.path;
    }
    const addonsSize = addonsPath === undefined ? undefined : (await stat(addonsPath)).size;
    if (
      addonsSize !== undefined &&
      flavor.addonsMaxBytes !== undefined &&
      addonsSize > flavor.addonsMaxBytes
    ) {
      throw new KartError(
        'ADDONS_TOO_LARGE',
        `addons.squashfs is ${addonsSize} bytes, more than flavor ${flavor.name} allows (${flavor.addonsMaxBytes})`,
        {
          hint: 'strip the modules (INSTALL_MOD_STRIP=1) or leave some out',
          details: { size: addonsSize, limit: flavor.addonsMaxBytes },
        },
      );
    }

    const metadata: KernelMetadata = {
      arch: image.arch,
      version,
      unameRelease: image.release,
      flavor: flavor.name,
      configDigest: config.digest,
      tags,
      ...(options.bundle === undefined ? {} : { extra: options.bundle.metadata }),
    };
    const metadataBytes = Buffer.from(formatKernelMetadata(metadata), 'utf8');
    const kernelSize = (await stat(inputs.kernel)).size;
    const files: ArtifactFile[] =
      format === 'linuxkit'
        ? await linuxKitFiles({
            kernel: inputs.kernel,
            kernelSize,
            release: image.release,
            config: config.uncompressed,
            ...(inputs.addons?.kind === 'modules' ? { modules: inputs.addons.path } : {}),
            ...(options.systemMap === undefined ? {} : { systemMap: options.systemMap }),
            work,
            mtime,
          })
        : [
            { path: 'kernel/image', size: kernelSize, source: inputs.kernel },
            { path: 'kernel/config.gz', size: config.gzipped.length, source: config.gzipped },
            ...(addonsPath === undefined || addonsSize === undefined
              ? []
              : [{ path: 'kernel/addons.squashfs', size: addonsSize, source: addonsPath }]),
            ...(options.bundle === undefined
              ? []
              : [{ path: options.bundle.path, size: options.bundle.size, source: options.bundle.file }]),
            { path: 'kernel/metadata', size: metadataBytes.length, source: metadataBytes },
          ];

    const target = typeof packTarget === 'function' ? await packTarget() : packTarget;
    // Read every tag's current index before writing anything, so a bad one refuses the pack unchanged.
    const existing = new Map<string, Descriptor[]>();
    for (const tag of tags) existing.set(tag, (await readTagIndex(target, tag)).entries);

    // A layout takes each layer as it is produced; other stores get it hashed first and pushed below.
    const layers: MeasuredLayer[] = [];
    for (const file of files) {
      layers.push(
        canIngest(target)
          ? await ingestLayer(abortableIngester(target, options.signal), file, compression, mtime)
          : await measureLayer(file, compression, mtime),
      );
    }

    const created = options.sourceDateEpoch === undefined ? undefined : rfc3339(mtime);
    // One history entry per layer: strict readers need the field (krata's oci-spec-rs 0.6.8 has no
    // default for it). Its time is fixed like every other one, so the digests stay reproducible.
    const historyCreated = created ?? rfc3339(0);
    const imageConfig = {
      architecture: sniffed,
      ...(created === undefined ? {} : { created }),
      history: layers.map((layer) => ({
        created: historyCreated,
        created_by: `kart pack: ${layer.file.path}`,
      })),
      os: 'linux',
      rootfs: { type: 'layers', diff_ids: layers.map((layer) => layer.diffId) },
    };
    const configBytes = Buffer.from(JSON.stringify(imageConfig), 'utf8');
    const configDesc = descriptorOf(configBytes, MediaType.OciConfig);

    const annotations: Record<string, string> = {
      'org.opencontainers.image.version': version,
      ...(created === undefined ? {} : { 'org.opencontainers.image.created': created }),
      ...(options.sourceUrl === undefined ? {} : { 'org.opencontainers.image.source': options.sourceUrl }),
      ...(options.revision === undefined ? {} : { 'org.opencontainers.image.revision': options.revision }),
      ...(options.annotations ?? {}),
      ...(options.bundle?.annotations ?? {}),
      // Format 1 promises kernel/image and friends (krata's fetch_kernel checks it); LinuxKit's shape is another.
      [FORMAT_ANNOTATION]: format === 'linuxkit' ? 'linuxkit' : '1',
      [VERSION_ANNOTATION]: version,
      [FLAVOR_ANNOTATION]: flavor.name,
      [CONFIG_DIGEST_ANNOTATION]: config.digest,
    };
    const manifest = {
      schemaVersion: 2,
      mediaType: MediaType.OciManifest,
      config: configDesc,
      layers: layers.map((layer) => layer.descriptor),
      annotations: sortedKeys(annotations),
    };
    const manifestBytes = Buffer.from(JSON.stringify(manifest), 'utf8');
    const platform = { architecture: sniffed, os: 'linux' as const };
    const manifestDesc = descriptorOf(manifestBytes, MediaType.OciManifest);

    const entry: Descriptor = { ...manifestDesc, platform };
    const merged = tags.map((tag) => ({ tag, ...mergedIndex(existing.get(tag) ?? [], entry) }));

    // Writes: leaves first, then the manifest, then each tag's index, then the tags.
    if (!canIngest(target)) {
      for (const layer of layers) await pushLayer(observedPusher(target, options), layer, compression, mtime);
    }
    throwIfAborted(options.signal);
    await pushBytes(target, configDesc, configBytes);
    await pushBytes(target, manifestDesc, manifestBytes);
    const indexes: PackKernelResult['indexes'] = [];
    // The last moment to stop: past it the tags move, all of them.
    throwIfAborted(options.signal);
    for (const planned of merged) {
      if (canUpdateTag(target)) {
        // Merge again under the store's lock: another pack may have added its arch since the read above.
        let platforms = planned.platforms;
        const indexDesc = await target.updateTag(planned.tag, async () => {
          const next = mergedIndex((await readTagIndex(target, planned.tag)).entries, entry);
          platforms = next.platforms;
          const desc = descriptorOf(next.bytes, MediaType.OciIndex);
          await pushBytes(target, desc, next.bytes);
          return desc;
        });
        indexes.push({ tag: planned.tag, index: indexDesc, platforms });
      } else {
        const indexDesc = descriptorOf(planned.bytes, MediaType.OciIndex);
        await pushBytes(target, indexDesc, planned.bytes);
        await target.tag(indexDesc, planned.tag);
        indexes.push({ tag: planned.tag, index: indexDesc, platforms: planned.platforms });
      }
    }
    return {
      target: target.name,
      platform,
      manifest: manifestDesc,
      config: configDesc,
      indexes,
      files: layers.map((layer) => ({
        path: layer.file.path,
        size: layer.file.size,
        layer: layer.descriptor,
      })),
      metadata,
      image,
      choices: inputs.choices,
      ...(check === undefined ? {} : { check }),
      annotations: manifest.annotations,
    };
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

/** A tag's index with `entry` merged in, and the platforms it then lists (for the result). */
function mergedIndex(entries: Descriptor[], entry: Descriptor): { bytes: Buffer; platforms: string[] } {
  const { bytes, index } = mergePlatformEntry(entries, entry);
  return {
    bytes,
    platforms: index.manifests.map((e) => `${e.platform?.os ?? '?'}/${e.platform?.architecture ?? '?'}`),
  };
}

function sortedKeys(record: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(record).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

/** Unix seconds as RFC 3339 in UTC without fractions (`2023-11-14T22:13:20Z`). */
function rfc3339(seconds: number): string {
  return new Date(seconds * 1000).toISOString().replace('.000Z', 'Z');
}
