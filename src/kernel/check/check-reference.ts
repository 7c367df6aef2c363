import { isKartError, KartError } from '../../errors.ts';
import {
  ImageConfigSchema,
  formatPlatform,
  isAttestationEntry,
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
import { CONFIG_DIGEST_ANNOTATION } from '../artifact/pack-kernel.ts';
import { checkConfig, type CheckReport, type Flavor } from '../flavor/index.ts';
import { readLayerFiles } from '../artifact/read-layer-files.ts';
import {
  METADATA_PATH,
  readMetadataFile,
  readPublishedConfig,
  type PublishedConfig,
} from './published-config.ts';

/**
 * `kart check --flavor F REF`: the flavors' requirements against a published kernel, every platform
 * of the index (or --arch's), downloading the config layer alone (kernel/config.gz; the fallbacks are
 * in published-config.ts). The config the image claims, its manifest's dev.edera.kernel.config
 * annotation or (without it) kernel/metadata's KERNEL_CONFIG, must be the config that was read: an
 * image that names another config lies about what it is, and fails the check.
 */
export interface CheckReferenceOptions {
  flavors: Flavor[];
  /** one platform; default every platform the reference has */
  arch?: OciKernelArch;
  /** transport (and mirror `sources`) options for a registry reference */
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
  /** the config digest the image claims: its dev.edera.kernel.config annotation, else KERNEL_CONFIG */
  metadataConfigDigest?: Digest;
  /** who made that claim: the manifest annotation (no metadata download) or kernel/metadata */
  claimFrom?: 'annotation' | 'metadata';
  /** false when the claim names another config than the one read */
  metadataMatches: boolean;
  report: CheckReport;
  /** the requirements hold and the image does not lie */
  ok: boolean;
}

/** A platform of the index that could not be checked (not amd64/arm64, and no config kart can read). */
export interface UncheckedPlatform {
  platform: string;
  manifest: Digest;
  code: string;
  message: string;
}

export interface ReferenceCheck {
  reference: string;
  /** what the reference resolved to */
  digest: Digest;
  mediaType: string;
  platforms: PlatformCheck[];
  /** reported, and failing the check: a platform nobody could verify is not a kernel that passed */
  unchecked: UncheckedPlatform[];
  /** index entries that are no platform (buildkit attestations), skipped as `pull -k` skips them */
  skipped: { manifest: Digest; reason: string }[];
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
  const unchecked: UncheckedPlatform[] = [];
  const { choices, skipped } = await choosePlatforms(target, reference, root, options.arch);
  for (const choice of choices) {
    try {
      platforms.push(await checkPlatform(target, reference, root, choice, options.flavors, cache));
    } catch (error) {
      // A kernel platform kart publishes must be checkable: its failure is the command's. Any other
      // platform is reported with why it could not be checked (a registry failure still ends it all).
      if (choice.kernel || !isKartError(error) || error.exitCode === 3) throw error;
      unchecked.push({
        platform: choice.platform ?? 'unknown',
        manifest: choice.manifest.digest,
        code: error.code,
        message: error.message,
      });
    }
  }
  return {
    reference,
    digest: root.digest,
    mediaType: root.mediaType,
    platforms,
    unchecked,
    skipped,
    ok: platforms.every((platform) => platform.ok) && unchecked.length === 0,
  };
}

interface PlatformChoice {
  manifest: Descriptor;
  /** from the index entry; a bare manifest's platform is read later */
  platform: string | undefined;
  /** linux/amd64 or linux/arm64 (or a bare manifest): a kernel platform kart knows */
  kernel: boolean;
}

const KERNEL_PLATFORMS = new Set(['linux/amd64', 'linux/arm64']);

async function choosePlatforms(
  target: Target,
  reference: string,
  root: Descriptor,
  arch: OciKernelArch | undefined,
): Promise<{ choices: PlatformChoice[]; skipped: ReferenceCheck['skipped'] }> {
  const top = await fetchManifest(target, root);
  if (top.kind === 'manifest') {
    return { choices: [{ manifest: root, platform: undefined, kernel: true }], skipped: [] };
  }
  const skipped = top.index.manifests
    .filter((entry) => isAttestationEntry(entry))
    .map((entry) => ({ manifest: entry.digest, reason: 'attestation manifest, not a platform' }));
  const entries = top.index.manifests.filter((entry) => !isAttestationEntry(entry));
  const offered = entries.map((entry) => (entry.platform ? formatPlatform(entry.platform) : 'unknown'));
  const chosen = entries.filter(
    (entry) => arch === undefined || (entry.platform?.os === 'linux' && entry.platform.architecture === arch),
  );
  if (chosen.length === 0) {
    throw new KartError(
      'PLATFORM_NOT_FOUND',
      `${reference} has no ${arch === undefined ? 'platform' : `linux/${arch} kernel`}; it has ${offered.length > 0 ? offered.join(', ') : 'no platforms'}`,
      { exitCode: 1, hint: 'choose one of its platforms with --arch', details: { platforms: offered } },
    );
  }
  const choices = chosen.map((entry) => {
    const platform = entry.platform ? formatPlatform(entry.platform) : undefined;
    return {
      manifest: entry,
      platform,
      kernel:
        platform !== undefined && KERNEL_PLATFORMS.has(platform) && isImageManifestMediaType(entry.mediaType),
    };
  });
  return { choices, skipped };
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
  // What the image says its config is: kart's manifest annotation costs no download; images without
  // it (older kart, other producers) say it in kernel/metadata, which is then read too.
  const annotated = fetched.manifest.annotations?.[CONFIG_DIGEST_ANNOTATION] as Digest | undefined;
  const metadataLayer =
    annotated === undefined ? layers.find((layer) => annotatedLayerFile(layer) === METADATA_PATH) : undefined;
  const named =
    metadataLayer === undefined
      ? undefined
      : await cache.metadata(target, metadataLayer, `${reference}@${choice.manifest.digest}`);
  const platform =
    choice.platform ??
    (named !== undefined
      ? `linux/${named.arch === 'aarch64' ? 'arm64' : 'amd64'}`
      : await configPlatform(target, fetched.manifest.config));
  const source = `${reference}@${choice.manifest.digest} (${platform})`;
  const config = await cache.config(target, layers, source);
  const claim: { from: 'annotation' | 'metadata'; digest: Digest } | undefined =
    annotated !== undefined
      ? { from: 'annotation', digest: annotated }
      : (named ?? config.metadata) !== undefined
        ? { from: 'metadata', digest: (named ?? config.metadata)!.configDigest }
        : undefined;
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
  const metadataMatches = claim === undefined || claim.digest === config.digest;
  return {
    platform,
    manifest: choice.manifest,
    configFrom: config.from,
    configLayer: config.layer,
    configDigest: config.digest,
    ...(claim === undefined ? {} : { metadataConfigDigest: claim.digest, claimFrom: claim.from }),
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

  metadata(
    store: Fetcher,
    layer: Descriptor,
    source: string,
  ): Promise<{ arch: string; configDigest: Digest } | undefined> {
    let pending = this.#metadata.get(layer.digest);
    if (pending === undefined) {
      pending = readMetadata(store, layer, source);
      this.#metadata.set(layer.digest, pending);
    }
    return pending;
  }
}

async function readMetadata(
  store: Fetcher,
  layer: Descriptor,
  source: string,
): Promise<{ arch: string; configDigest: Digest } | undefined> {
  let parsed: { arch: string; configDigest: Digest } | undefined;
  await readLayerFiles(
    store,
    layer,
    source,
    (path) => path === METADATA_PATH,
    async (path, body) => {
      parsed = await readMetadataFile(body, `${source} layer ${layer.digest} ${path}`);
    },
  );
  return parsed;
}
