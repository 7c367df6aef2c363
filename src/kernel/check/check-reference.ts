import { KartError } from '../../errors.ts';
import {
  ImageConfigSchema,
  formatPlatform,
  isImageManifestMediaType,
  parseJson,
  type Descriptor,
  type Digest,
  type Fetcher,
  type Target,
} from '../../oci/index.ts';
import { fetchBytes, fetchManifest } from '../../oci/manifest-io.ts';
import { openReference, type OpenTargetOptions } from '../../registry/open-target.ts';
import { annotatedLayerFile } from '../artifact/layer-files.ts';
import type { OciKernelArch } from '../artifact/kernel-platform.ts';
import { checkConfig, type CheckReport, type Flavor } from '../flavor/index.ts';
import { readLayerFiles } from '../artifact/read-layer-files.ts';
import {
  METADATA_PATH,
  readMetadataFile,
  readPublishedConfig,
  type PublishedConfig,
} from './published-config.ts';

/**
 * `kart check --flavor F REF`: the flavors' requirements against a published kernel, per platform,
 * downloading the config layer alone (kernel/config.gz; the fallbacks are in published-config.ts) and
 * the small kernel/metadata layer, whose KERNEL_CONFIG must name the config that was read: an image
 * whose metadata names another config lies about what it is, and fails the check.
 */
export interface CheckReferenceOptions {
  flavors: Flavor[];
  /** one platform; default every linux/amd64 and linux/arm64 platform the reference has */
  arch?: OciKernelArch;
  /** transport options for a registry reference */
  transport?: OpenTargetOptions;
}

export interface PlatformCheck {
  /** e.g. linux/amd64 */
  platform: string;
  manifest: Descriptor;
  /** where the config came from: kernel/config.gz, kernel-dev.tar or "<kernel> (IKCONFIG)" */
  configFrom: string;
  configLayer: Digest;
  configDigest: Digest;
  /** KERNEL_CONFIG from kernel/metadata, when the image has metadata */
  metadataConfigDigest?: Digest;
  /** false when KERNEL_CONFIG names another config than the one read */
  metadataMatches: boolean;
  report: CheckReport;
  /** the requirements hold and the metadata does not lie */
  ok: boolean;
}

export interface ReferenceCheck {
  reference: string;
  /** what the reference resolved to */
  digest: Digest;
  mediaType: string;
  platforms: PlatformCheck[];
  ok: boolean;
}

export async function checkReference(
  reference: string,
  options: CheckReferenceOptions,
): Promise<ReferenceCheck> {
  const opened = await openReference(reference, options.transport ?? {});
  try {
    if (opened.tagOrDigest === undefined) {
      throw new KartError('REFERENCE_INCOMPLETE', `${reference} names no tag or digest`, {
        exitCode: 2,
        hint: 'add :TAG or @DIGEST',
      });
    }
    const root = await opened.target.resolve(opened.tagOrDigest);
    return await checkResolved(opened.target, reference, root, options);
  } finally {
    await opened.close();
  }
}

/**
 * The same check on a store already open and a root already resolved (audit shares one store and
 * one config cache across tags: a config layer shared by many tags is downloaded once).
 */
export async function checkResolved(
  target: Target,
  reference: string,
  root: Descriptor,
  options: CheckReferenceOptions,
  cache: ConfigCache = new ConfigCache(),
): Promise<ReferenceCheck> {
  const platforms: PlatformCheck[] = [];
  for (const choice of await choosePlatforms(target, reference, root, options.arch)) {
    platforms.push(await checkPlatform(target, reference, root, choice, options.flavors, cache));
  }
  return {
    reference,
    digest: root.digest,
    mediaType: root.mediaType,
    platforms,
    ok: platforms.every((platform) => platform.ok),
  };
}

interface PlatformChoice {
  manifest: Descriptor;
  /** from the index entry; a bare manifest's platform is read later */
  platform: string | undefined;
}

async function choosePlatforms(
  target: Target,
  reference: string,
  root: Descriptor,
  arch: OciKernelArch | undefined,
): Promise<PlatformChoice[]> {
  const top = await fetchManifest(target, root);
  if (top.kind === 'manifest') return [{ manifest: root, platform: undefined }];
  const entries = top.index.manifests.filter(
    (entry) => isImageManifestMediaType(entry.mediaType) && entry.platform?.os === 'linux',
  );
  const offered = entries.map((entry) => formatPlatform(entry.platform!));
  const chosen = entries.filter(
    (entry) =>
      (arch === undefined && ['amd64', 'arm64'].includes(entry.platform!.architecture)) ||
      entry.platform!.architecture === arch,
  );
  if (chosen.length === 0) {
    throw new KartError(
      'PLATFORM_NOT_FOUND',
      `${reference} has no ${arch === undefined ? 'linux/amd64 or linux/arm64' : `linux/${arch}`} kernel; it has ${offered.length > 0 ? offered.join(', ') : 'no platforms'}`,
      { exitCode: 1, hint: 'choose one of its platforms with --arch', details: { platforms: offered } },
    );
  }
  return chosen.map((entry) => ({ manifest: entry, platform: formatPlatform(entry.platform!) }));
}

async function checkPlatform(
  target: Target,
  reference: string,
  root: Descriptor,
  choice: PlatformChoice,
  flavors: Flavor[],
  cache: ConfigCache,
): Promise<PlatformCheck> {
  const fetched = await fetchManifest(target, choice.manifest);
  if (fetched.kind !== 'manifest') {
    throw new KartError(
      'MANIFEST_UNSUPPORTED',
      `${choice.manifest.digest} is a nested index, not a platform manifest`,
      {
        exitCode: 1,
      },
    );
  }
  const layers = fetched.manifest.layers;
  const metadataLayer = layers.find((layer) => annotatedLayerFile(layer) === METADATA_PATH);
  const named = metadataLayer === undefined ? undefined : await cache.metadata(target, metadataLayer);
  const platform =
    choice.platform ??
    (named !== undefined
      ? `linux/${named.arch === 'aarch64' ? 'arm64' : 'amd64'}`
      : await configPlatform(target, fetched.manifest.config));
  const source = `${reference}@${choice.manifest.digest} (${platform})`;
  const config = await cache.config(target, layers, source);
  const metadata = named ?? config.metadata;
  const report = checkConfig(config.config, flavors);
  report.subject = {
    kind: 'reference',
    reference,
    digest: root.digest,
    platform,
    manifest: choice.manifest.digest,
    configFrom: config.from,
    layer: config.layer,
    configDigest: config.digest,
  };
  const metadataMatches = metadata === undefined || metadata.configDigest === config.digest;
  return {
    platform,
    manifest: choice.manifest,
    configFrom: config.from,
    configLayer: config.layer,
    configDigest: config.digest,
    ...(metadata === undefined ? {} : { metadataConfigDigest: metadata.configDigest }),
    metadataMatches,
    report,
    ok: report.ok && metadataMatches,
  };
}

async function configPlatform(target: Fetcher, config: Descriptor): Promise<string> {
  const parsed = parseJson(
    ImageConfigSchema,
    await fetchBytes(target, config),
    `image config ${config.digest}`,
  );
  return `${parsed.os}/${parsed.architecture}`;
}

/**
 * What was read from layers, by layer digest: a config or metadata layer shared by many tags (or
 * platforms) is downloaded and parsed once. Concurrent askers share one download.
 */
export class ConfigCache {
  readonly #configs = new Map<string, Promise<PublishedConfig>>();
  readonly #metadata = new Map<string, Promise<{ arch: string; configDigest: Digest } | undefined>>();

  config(store: Fetcher, layers: readonly Descriptor[], source: string): Promise<PublishedConfig> {
    const key = layers.map((layer) => layer.digest).join(',');
    const named = layers.find((layer) => annotatedLayerFile(layer) === 'kernel/config.gz');
    // With a named config layer, only that layer matters; otherwise the whole layer list does.
    const cacheKey = named?.digest ?? key;
    let pending = this.#configs.get(cacheKey);
    if (pending === undefined) {
      pending = readPublishedConfig(store, layers, source);
      this.#configs.set(cacheKey, pending);
    }
    return pending;
  }

  metadata(store: Fetcher, layer: Descriptor): Promise<{ arch: string; configDigest: Digest } | undefined> {
    let pending = this.#metadata.get(layer.digest);
    if (pending === undefined) {
      pending = readMetadata(store, layer);
      this.#metadata.set(layer.digest, pending);
    }
    return pending;
  }
}

async function readMetadata(
  store: Fetcher,
  layer: Descriptor,
): Promise<{ arch: string; configDigest: Digest } | undefined> {
  let parsed: { arch: string; configDigest: Digest } | undefined;
  await readLayerFiles(
    store,
    layer,
    (path) => path === METADATA_PATH,
    async (path, body) => {
      parsed = await readMetadataFile(body, `layer ${layer.digest} ${path}`);
    },
  );
  return parsed;
}
