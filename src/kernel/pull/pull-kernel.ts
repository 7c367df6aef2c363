import type { InstalledGuest } from '../../guest/bundle/installed-bundle.ts';
import { stat } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import type { Readable } from 'node:stream';
import { KartError } from '../../errors.ts';
import { copyGraph } from '../../oci/copy.ts';
import type { Digest } from '../../oci/digest.ts';
import { fetchBytes } from '../../oci/manifest-io.ts';
import { formatReference, parseReference, withDefaultTag } from '../../oci/reference.ts';
import { ImageManifestSchema, parseJson, type Descriptor, type ImageManifest } from '../../oci/schema.ts';
import type { Fetcher, Target } from '../../oci/store.ts';
import { servedBy, sourceReport, type SourceReport } from '../../registry/mirrors/source-report.ts';
import { openReference, type OpenTargetOptions } from '../../registry/open-target.ts';
import { hostOciArch, type OciKernelArch } from '../artifact/kernel-platform.ts';
import { defaultCacheDir } from '../cache/cache-dir.ts';
import {
  openExistingCache,
  openKernelCache,
  type KernelCache,
  type PullInProgress,
} from '../cache/kernel-cache.ts';
// Only what every pull needs is imported up front. The install core (tar reading, image sniffing,
// the config model) and the flavor check load when a pull installs or asks for --flavor: an unchanged
// kernel, what a zone launcher sees before almost every boot, never loads them.
import type { InstalledFile, InstallKernelOptions } from '../install/install-kernel.ts';
import { tidyInstallArea } from '../install/install-area.ts';
import { requireImageConfig } from '../install/install-errors.ts';
import { layerCompression } from '../install/layer-decompression.ts';
import { annotatedLayerFile } from '../artifact/layer-files.ts';
import { selectKernelManifest } from '../install/select-platform.ts';
import { throwIfAborted, type TransferOptions } from '../../oci/transfer-observer.ts';
import { refuseOversizedDocument } from '../install/manifest-bytes.ts';
import { intactInstall } from './installed-state.ts';
import { onePassSource } from './one-pass-source.ts';
import { pauseAt, pauseWhileDownloading } from './test-pause.ts';
import type { TrustPolicy } from '../../signature/trust-policy.ts';
import type { VerifiedSignature } from '../../signature/verify-artifact.ts';

/**
 * `kart pull -k` as a library function, what a zone launcher runs before every boot:
 *
 *   reference ─HEAD→ root digest ─→ (cache) index → linux/<arch> manifest → config, layers
 *             ─→ install core (staging beside DEST, verify, atomic swap) ─→ DEST
 *
 * Every blob goes through the cache (verified before it is stored, one download per blob across
 * processes), and the install reads only from the cache. An unchanged tag costs the one HEAD request;
 * a DEST already holding that manifest, intact, is not rewritten (but --flavor is checked against its
 * config all the same). Offline, the root digest of the reference's last successful pull is installed
 * from the cache with no network at all.
 */
export interface PullKernelOptions extends TransferOptions {
  reference: string;
  dest: string;
  /** default: the host's */
  arch?: OciKernelArch;
  flavor?: string;
  /** default: $XDG_CACHE_HOME/kart, else ~/.cache/kart */
  cacheDir?: string;
  offline?: boolean;
  /** re-hash DEST's files before trusting that it holds the manifest (default: sizes only; see intactInstall) */
  verifyInstalled?: boolean;
  target?: OpenTargetOptions;
  now?: Date;
  /** take over a populated DEST kart did not make: moved aside (kept), see PullKernelResult.adopted */
  adopt?: boolean;
  /**
   * Install only a kernel signed by one of these keys (or this keyless identity): a signature of the
   * root or of the platform manifest must verify before any config or layer is fetched (--verify-key).
   */
  verify?: TrustPolicy;
}

export interface PulledBlob {
  digest: Digest;
  mediaType: string;
  size: number;
  fromCache: boolean;
  /** the registry repository (a mirror or the upstream) that served it; absent when it was cached */
  source?: string;
}

export interface PulledFile extends InstalledFile {
  /**
   * true when this pull downloaded nothing for it: every layer it was made from was already in the
   * cache (or DEST already held it and nothing was installed)
   */
  fromCache: boolean;
}

export interface PullKernelResult {
  /** the reference in canonical form (the cache's key) */
  reference: string;
  /** what the reference resolved to (an index, or a bare manifest) */
  digest: Digest;
  manifestDigest: Digest;
  platform: string;
  dest: string;
  /** false when DEST already held this manifest and nothing was rewritten */
  installed: boolean;
  offline: boolean;
  cache: string;
  blobs: PulledBlob[];
  files: PulledFile[];
  /** with `adopt`: where the directory that was at DEST was moved */
  adopted?: string;
  /** the signature that verified, with `verify` */
  signature?: VerifiedSignature;
  /** what the cache repaired or cleaned up on the way (damaged blobs, files, leftover temp files) */
  notices: string[];
  /** mirrors skipped during this pull; and, if the upstream could not be reached, the mirror that resolved the tag */
  sources?: SourceReport;
  /** a Kata guest bundle: the image, its verified kernel_verity_params and kernel lines (also in DEST) */
  guest?: InstalledGuest;
}

export async function pullKernel(options: PullKernelOptions): Promise<PullKernelResult> {
  const parsed = withDefaultTag(parseReference(options.reference));
  const reference = formatReference(parsed);
  const tagOrDigest = (parsed.digest ?? parsed.tag) as string;
  const arch = options.arch ?? hostOciArch();
  const offline = options.offline === true;
  const cacheDir = options.cacheDir ?? defaultCacheDir();
  // --offline only reads the cache: a cache that does not exist is not created for it.
  const cache = offline
    ? ((await openExistingCache(cacheDir)) ?? throwNotCached(reference, resolve(cacheDir)))
    : await openKernelCache(cacheDir);
  const now = options.now ?? new Date();

  let remote: Target | undefined;
  let close = async (): Promise<void> => {};
  let root: Descriptor;
  if (offline) {
    root = await offlineRoot(cache, reference, parsed.digest);
  } else {
    const opened = await openReference(reference, options.target ?? {});
    remote = opened.target;
    close = opened.close;
  }
  let pull: PullInProgress | undefined;
  try {
    if (remote !== undefined) {
      const resolved = await remote.resolve(tagOrDigest);
      root = { mediaType: resolved.mediaType, digest: resolved.digest, size: resolved.size };
    }
    // Recorded (as in progress, and in the reference's history) before any blob is fetched, so a
    // concurrent `kart cache prune` keeps what we fetch, whatever its --keep.
    pull = await cache.beginPull(
      root!,
      remote === undefined ? undefined : { reference, seenAt: now.toISOString() },
    );
    const fetched = new Map<Digest, PulledBlob>();
    // Each node goes into the cache by the one graph copy; offline, the cache must already hold it
    // (CACHE_MISS otherwise).
    const ensure = async (desc: Descriptor, verify = true): Promise<void> => {
      throwIfAborted(options.signal);
      if (remote !== undefined) {
        await copyIntoCache(remote, cache, [desc], fetched, options, { verifyStored: verify });
        return;
      }
      const { fromCache } = await cache.ensure(desc, undefined);
      if (fromCache) options.onTransfer?.({ phase: 'skipped', desc, transferred: 0 });
      fetched.set(desc.digest, pulledBlob(desc, fromCache, remote));
    };

    await ensure(root!);
    const choice = await selectKernelManifest(rootedView(cache, root!), root!.digest, arch).catch(
      (error: unknown) => {
        throw platformError(error, reference, arch);
      },
    );
    await ensure(choice.manifest);
    const platform = `linux/${arch}`;
    const signature =
      options.verify === undefined
        ? undefined
        : await (
            await import('./pull-signature.ts')
          ).requirePulledSignature({
            cache,
            remote,
            subjects: [root!, choice.manifest],
            trust: options.verify,
            reference,
          });

    const manifest = parseJson(
      ImageManifestSchema,
      await fetchBytes(cache.layout, choice.manifest),
      `manifest ${choice.manifest.digest}`,
    );
    // Refused on the descriptor's word, before a byte of it is downloaded.
    refuseOversizedDocument(manifest.config, 'image config');
    requireImageConfig(manifest.config, `manifest ${choice.manifest.digest}`);
    const held = await intactInstall(options.dest, { verifyContent: options.verifyInstalled === true });
    if (held !== undefined && held.manifestDigest === choice.manifest.digest) {
      // DEST is current, but the cache must still hold the image (`cache verify` may have removed a
      // damaged blob): what is missing is fetched again, so that a later --offline keeps working.
      if (remote !== undefined) {
        for (const blob of [manifest.config, ...manifest.layers]) await ensure(blob, false);
      }
      // Nothing to install, but --flavor still holds: the kernel DEST boots must pass it.
      if (options.flavor !== undefined) {
        const hasConfig = held.files.some((file) => file.name === 'config');
        const { requireFlavor } = await import('../install/flavor-requirement.ts');
        await requireFlavor(
          {
            config: hasConfig ? join(options.dest, 'config') : undefined,
            what: `the kernel installed in ${options.dest} (${choice.manifest.digest})`,
            outcome: `${options.dest} was left as it was`,
          },
          options.flavor,
        );
      }
      // A pull killed after its swap left the old version beside the new one.
      await tidyInstallArea(options.dest);
      await cache.notePulled(reference, { ...root!, seenAt: now.toISOString() });
      return {
        reference,
        digest: root!.digest,
        manifestDigest: choice.manifest.digest,
        platform,
        dest: options.dest,
        installed: false,
        offline,
        cache: cache.root,
        blobs: [...fetched.values()],
        // Nothing was downloaded for them.
        files: held.files.map((file) => ({ ...file, fromCache: true })),
        ...(signature === undefined ? {} : { signature }),
        notices: cache.notices,
        sources: sourceReport(remote),
        ...(held.files.some((file) => file.name === 'rootfs.img')
          ? await installedGuestOf(options.dest)
          : {}),
      };
    }

    const { installKernel, installsImagePath } = await import('../install/install-kernel.ts');
    const install = (
      source: Fetcher,
      beforeSwap?: () => Promise<void>,
      onLayerFiles?: InstallKernelOptions['onLayerFiles'],
    ) =>
      installKernel({
        ...(onLayerFiles === undefined ? {} : { onLayerFiles }),
        source: pausingAtStaging(source, new Set(manifest.layers.map((layer) => layer.digest))),
        manifest: choice.manifest,
        dest: options.dest,
        reference,
        arch,
        now,
        ...(options.flavor === undefined ? {} : { flavor: options.flavor }),
        ...(options.adopt === true ? { adopt: true } : {}),
        ...(signature === undefined ? {} : { signature }),
        // The last moment to stop: past it DEST names the new kernel.
        beforeSwap: async () => {
          await beforeSwap?.();
          throwIfAborted(options.signal);
          await pauseAt('swap');
        },
        afterSwap: () => pauseAt('swapped'),
      });
    let result: Awaited<ReturnType<typeof installKernel>>;
    if (remote === undefined) {
      for (const blob of [manifest.config, ...manifest.layers]) await ensure(blob);
      result = await install(cache.storage);
    } else {
      const frames = await framedLayers(cache, options.dest, installsImagePath);
      result = await installInOnePass(remote, cache, manifest, fetched, { ...options, frames }, install);
    }
    await cache.notePulled(reference, { ...root!, seenAt: now.toISOString() });
    // A file came from the cache when every layer it was made from was there before this pull.
    const fromCache = (name: InstalledFile['name']): boolean =>
      (result.fileLayers[name] ?? []).every((layer) => fetched.get(layer)?.fromCache === true);
    return {
      reference,
      digest: root!.digest,
      manifestDigest: result.manifestDigest,
      platform: `${result.platform.os}/${result.platform.architecture}`,
      dest: result.dest,
      installed: true,
      offline,
      cache: cache.root,
      blobs: [...fetched.values()],
      files: result.files.map((file) => ({ ...file, fromCache: fromCache(file.name) })),
      ...(result.adopted === undefined ? {} : { adopted: result.adopted }),
      ...(signature === undefined ? {} : { signature }),
      notices: cache.notices,
      sources: sourceReport(remote),
      ...(result.guest === undefined ? {} : { guest: result.guest }),
    };
  } finally {
    await pull?.end();
    await close();
  }
}

/** --offline: the digest the reference last installed (or the digest the reference itself names). */
async function offlineRoot(
  cache: KernelCache,
  reference: string,
  digest: Digest | undefined,
): Promise<Descriptor> {
  const pulled = (await cache.readRefs()).references[reference]?.pulled;
  if (pulled !== undefined) return { mediaType: pulled.mediaType, digest: pulled.digest, size: pulled.size };
  if (digest !== undefined) {
    const stored = await cache.layout.resolve(digest).catch(() => undefined);
    if (stored !== undefined) return stored;
  }
  return throwNotCached(reference, cache.root);
}

function throwNotCached(reference: string, cacheRoot: string): never {
  throw new KartError(
    'OFFLINE_NOT_CACHED',
    `${reference} has never been pulled into the cache ${cacheRoot}`,
    {
      exitCode: 1,
      hint: 'pull it once with the network (without --offline), or pass the --cache that holds it',
      details: { reference, cache: cacheRoot },
    },
  );
}

/** The selector names the cache; the user asked for the reference. */
function platformError(error: unknown, reference: string, arch: OciKernelArch): unknown {
  if (!(error instanceof KartError) || error.code !== 'PLATFORM_NOT_FOUND') return error;
  const platforms = (error.details?.platforms as string[] | undefined) ?? [];
  return new KartError(
    'PLATFORM_NOT_FOUND',
    `${reference} has no linux/${arch} kernel; it has ${platforms.length > 0 ? platforms.join(', ') : 'no platforms'}`,
    { exitCode: 1, hint: 'choose one of its platforms with --arch', details: { reference, platforms } },
  );
}

/** The cache as a Target in which the root digest resolves to the descriptor the registry gave it. */
function rootedView(cache: KernelCache, root: Descriptor): Target {
  const layout = cache.layout;
  return {
    name: layout.name,
    resolve: async (ref) => (ref === root.digest ? root : layout.resolve(ref)),
    fetch: (desc) => layout.fetch(desc),
    exists: (desc) => layout.exists(desc),
    push: (desc, content) => layout.push(desc, content),
    tag: (desc, ref) => layout.tag(desc, ref),
  };
}

/**
 * Which layers the cache keeps by sharing the installed file instead of a copy (one-pass-source,
 * framed-blobs.ts): kart's one-file layers naming a file the install keeps, uncompressed, too large to
 * fetch ahead, when the cache can be written and lies on DEST's filesystem (neither a reflink nor a
 * link crosses filesystems).
 */
async function framedLayers(
  cache: KernelCache,
  dest: string,
  installs: (path: string) => boolean,
): Promise<(layer: Descriptor) => boolean> {
  if (cache.readOnly || !(await sameFilesystem(cache.root, dirname(resolve(dest))))) return () => false;
  return (layer) => {
    const file = annotatedLayerFile(layer);
    return (
      layer.size > PREFETCH_MAX_BYTES &&
      file !== undefined &&
      installs(file) &&
      layerCompression(layer.mediaType, layer.digest) === 'none'
    );
  };
}

/** Whether two paths (or, for one not made yet, its nearest existing parent) share a filesystem. */
async function sameFilesystem(a: string, b: string): Promise<boolean> {
  const device = async (path: string): Promise<number | undefined> => {
    for (let at = path; ; at = dirname(at)) {
      const info = await stat(at).catch(() => undefined);
      if (info !== undefined) return info.dev;
      if (dirname(at) === at) return undefined;
    }
  };
  const [first, second] = await Promise.all([device(a), device(b)]);
  return first !== undefined && first === second;
}

/** Layers up to this size are fetched ahead into the cache and read back (a second hash of little). */
const PREFETCH_MAX_BYTES = 1024 * 1024;

/**
 * A cold install in one pass: the config is copied into the cache by the one graph copy, then the
 * install reads each layer as it downloads (onePassSource: split between the cache and the install,
 * verified once). A transfer that fails beyond what the registry client resumes cannot start over
 * under a half-read layer: that install is dropped (DEST untouched), the blobs still missing are
 * copied into the cache with the graph copy's retries, and the install runs again from the cache.
 */
async function installInOnePass<R>(
  remote: Target,
  cache: KernelCache,
  manifest: ImageManifest,
  fetched: Map<Digest, PulledBlob>,
  options: TransferOptions & { frames: (layer: Descriptor) => boolean },
  install: (
    source: Fetcher,
    beforeSwap?: () => Promise<void>,
    onLayerFiles?: InstallKernelOptions['onLayerFiles'],
  ) => Promise<R>,
): Promise<R> {
  await copyIntoCache(remote, cache, [manifest.config], fetched, options);
  const source = onePassSource(cache, remote, {
    ...options,
    note: (desc, fromCache) => {
      if (!fetched.has(desc.digest)) fetched.set(desc.digest, pulledBlob(desc, fromCache, remote));
    },
  });
  // The small layers (config.gz, metadata: a round trip each) come side by side with the first one.
  source.prefetch(manifest.layers.filter((layer) => layer.size <= PREFETCH_MAX_BYTES));
  let attempt: R;
  try {
    // Before the swap, every downloaded layer is stored in the cache (so --offline can install it again).
    attempt = await install(
      { fetch: (desc) => source.fetch(desc) },
      () => source.settled(),
      (layer, files) => source.keepFiles(layer, files),
    );
  } catch (error) {
    await source.abandon(error as Error);
    if (!(error instanceof KartError) || !error.transient || options.signal?.aborted === true) throw error;
    await copyIntoCache(remote, cache, manifest.layers, fetched, options);
    return install(cache.storage);
  }
  await source.abandon(new Error('the pull is over'));
  return attempt;
}

/**
 * Blobs copied from the registry into the cache by the one graph copy (node by node: a manifest the
 * cache holds does not vouch for its blobs, which `cache verify` or prune may have removed). The cache
 * downloads each blob once across processes and heals a damaged one.
 */
async function copyIntoCache(
  remote: Target,
  cache: KernelCache,
  blobs: Descriptor[],
  fetched: Map<Digest, PulledBlob>,
  options: TransferOptions,
  /** verifyStored false: a blob the cache holds is trusted by its presence (one this pull does not read) */
  { verifyStored = true }: { verifyStored?: boolean } = {},
): Promise<void> {
  const source = {
    exists: (desc: Descriptor) => remote.exists(desc),
    fetch: async (desc: Descriptor) => pauseWhileDownloading(await remote.fetch(desc)),
  };
  const note = (desc: Descriptor, fromCache: boolean): void => {
    // A blob this pull downloaded stays reported so when a later copy (the fallback) finds it stored.
    if (fromCache && fetched.get(desc.digest)?.fromCache === false) return;
    fetched.set(desc.digest, pulledBlob(desc, fromCache, remote));
  };
  const into = cache.storage.claiming({
    verifyStored,
    ...(options.signal === undefined ? {} : { signal: options.signal }),
  });
  try {
    // The blobs side by side (each under its own digest's lock); every copy ends before the locks
    // are released, and the first failure is the pull's.
    const copies = await Promise.allSettled(
      blobs.map((blob) =>
        copyGraph(source, into, blob, {
          // Node by node: the platform is chosen between the index and the manifest, and a manifest
          // the cache holds does not vouch for its blobs.
          findSuccessors: () => [],
          ...(options.signal === undefined ? {} : { signal: options.signal }),
          ...(options.onTransfer === undefined ? {} : { onTransfer: options.onTransfer }),
          onCopySkipped: (desc) => note(desc, true),
          onCopyDone: (desc) => note(desc, false),
        }),
      ),
    );
    const failed = copies.find((copy) => copy.status === 'rejected');
    if (failed !== undefined) throw failed.reason;
  } finally {
    await into.releaseAll();
  }
}

function pulledBlob(desc: Descriptor, fromCache: boolean, remote: Target | undefined): PulledBlob {
  return {
    digest: desc.digest,
    mediaType: desc.mediaType,
    size: desc.size,
    fromCache,
    ...(fromCache ? {} : { source: servedBy(remote, desc.digest) }),
  };
}

/** The install reads layers only once its staging directory exists: the "staging" pause point. */
function pausingAtStaging(source: Fetcher, layers: Set<Digest>): Fetcher {
  let paused = false;
  return {
    fetch: async (desc: Descriptor): Promise<Readable> => {
      if (!paused && layers.has(desc.digest)) {
        paused = true;
        await pauseAt('staging');
      }
      return source.fetch(desc);
    },
  };
}

/** A bundle DEST already holds: its facts as its install wrote them (loaded only for a bundle). */
async function installedGuestOf(dest: string): Promise<{ guest?: InstalledGuest }> {
  const { readInstalledGuest } = await import('../../guest/bundle/installed-bundle.ts');
  const guest = await readInstalledGuest(dest);
  return guest === undefined ? {} : { guest };
}
