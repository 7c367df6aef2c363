import { createReadStream, createWriteStream, existsSync } from 'node:fs';
import { chmod, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import { KartError } from '../../errors.ts';
import {
  DigestingStream,
  ImageConfigSchema,
  ImageManifestSchema,
  digestHex,
  isImageManifestMediaType,
  parseJson,
  type Descriptor,
  type Digest,
  type Fetcher,
} from '../../oci/index.ts';
import { withLayoutLock } from '../../oci/layout-lock.ts';
import { syncFile } from '../../oci/atomic-file.ts';
import { readTar } from '../../oci/tar-reader.ts';
import { BLOCK_SIZE } from '../../oci/tar-format.ts';
import { parseKernelMetadata, type ParsedKernelMetadata } from '../artifact/metadata.ts';
import { kernelArchOf, parseArchOption, type OciKernelArch } from '../artifact/kernel-platform.ts';
import type { CheckReport } from '../flavor/index.ts';
import { inspectKernelImage } from '../image/index.ts';
import { createStaging, openInstallArea, removeEmptyArea, removeLeftovers, swapIn } from './install-area.ts';
import { withDiskErrors } from '../../oci/disk-errors.ts';
import {
  ByteLimit,
  DEFAULT_INSTALL_LIMITS,
  fileLimit,
  isDecompressionError,
  layerExpansionLimit,
  layerInvalid,
  withDeclaredRootfs,
  type InstallLimits,
  type ManifestLimits,
} from './install-limits.ts';
import { requireFlavor } from './flavor-requirement.ts';
import { kernelImageInvalid, requireImageConfig } from './install-errors.ts';
import { ANNOTATIONS, ROOTFS_LAYER_PATH } from '../../guest/bundle/bundle-keys.ts';
import { annotatedLayerFile } from '../artifact/layer-files.ts';
import type { InstalledGuest } from '../../guest/bundle/installed-bundle.ts';
import { consumeLayer } from './layer-stream.ts';
import type { BackingFile } from '../../oci/backing-file.ts';
import { LayerTree, type LayerEntry, type StagedFile, type WrittenFile } from './layer-tree.ts';
import { readVerifiedDocument } from './manifest-bytes.ts';

/**
 * The install core shared by `kart unpack` and `kart pull -k`: given a store, a platform manifest and
 * DEST, it fetches and verifies every blob, applies the layers in order into a staging directory beside
 * DEST, takes only the kernel's files, checks them against each other (metadata, config digest, image
 * architecture, optionally a flavor), and swaps the result in atomically (see install-area.ts).
 * Any failure leaves DEST exactly as it was.
 */
export interface InstallKernelOptions {
  source: Fetcher;
  /** the platform manifest (not an index: pick the platform first, e.g. with selectKernelManifest) */
  manifest: Descriptor;
  dest: string;
  /** recorded in kart.json, e.g. `oci:/layout:6.1` or `ghcr.io/edera-dev/zone-kernel:6.12` */
  reference?: string;
  /** the platform the caller asked for; the image's config must agree */
  arch?: OciKernelArch;
  /** a flavor (name or file) the config must pass */
  flavor?: string;
  /** for kart.json; defaults to now */
  now?: Date;
  /** move a populated DEST kart did not make aside (kept, see InstallResult.adopted) instead of refusing it */
  adopt?: boolean;
  /** for kart.json: the signature pull -k verified (the signature room's VerifiedSignature) */
  signature?: object;
  /** called with the verified kernel staged, just before the swap (pull -k's crash-test pause point) */
  beforeSwap?: () => Promise<void>;
  /** called once DEST names the new version, before the old one is removed (the same, after the swap) */
  afterSwap?: () => Promise<void>;
  /** how far the image may expand (install-limits.ts); tests shrink them */
  limits?: Partial<InstallLimits>;
  /**
   * Called after each uncompressed layer's pass (verified, read to its end) with the files written
   * from it byte for byte, before anything moves them (pull -k's cache keeps such a layer by a reflink
   * or hard link of its file). The files stay where they are until this resolves.
   */
  onLayerFiles?: (layer: Descriptor, files: WrittenFile[]) => Promise<void>;
}

export type InstalledFileName =
  'kernel' | 'config' | 'addons.squashfs' | 'metadata' | 'kernel.tar' | 'rootfs.img';

export interface InstalledFile {
  name: InstalledFileName;
  size: number;
  digest: Digest;
}

export interface InstallResult {
  dest: string;
  /** the version directory DEST now points at */
  version: string;
  manifestDigest: Digest;
  platform: { os: string; architecture: string };
  /** kart/linux-kernel-oci (`kernel/…`) or LinuxKit (`kernel`, `kernel-dev.tar`, `kernel.tar` at the root) */
  format: 'kernel-oci' | 'linuxkit';
  files: InstalledFile[];
  /** the layers each installed file was made from (e.g. to tell which of them a cache already held) */
  fileLayers: Partial<Record<InstalledFileName, Digest[]>>;
  metadata?: ParsedKernelMetadata;
  flavorCheck?: CheckReport;
  /** with `adopt`: where the directory that was at DEST now is */
  adopted?: string;
  /** a Kata guest bundle: its image's root hash was recomputed and matched before the swap */
  guest?: InstalledGuest;
}

const KERNEL_OCI_PATHS = ['kernel/image', 'kernel/config.gz', 'kernel/addons.squashfs', 'kernel/metadata'];
const LINUXKIT_PATHS = ['kernel', 'kernel-dev.tar', 'kernel.tar'];
const WANTED = new Set([...KERNEL_OCI_PATHS, ROOTFS_LAYER_PATH, ...LINUXKIT_PATHS]);

/** Whether the install keeps the file at `path` of an image (the others are read past). */
export function installsImagePath(path: string): boolean {
  return WANTED.has(path);
}

export async function installKernel(options: InstallKernelOptions): Promise<InstallResult> {
  const { source, manifest: manifestDesc } = options;
  const where = `manifest ${manifestDesc.digest}`;
  if (!isImageManifestMediaType(manifestDesc.mediaType)) {
    throw kernelImageInvalid(
      `${where} is a ${manifestDesc.mediaType}, not an image manifest`,
      'pick a platform manifest from the index first',
    );
  }
  const manifest = parseJson(
    ImageManifestSchema,
    await readVerifiedDocument(source, manifestDesc, 'manifest'),
    where,
  );
  requireImageConfig(manifest.config, where);
  const config = parseJson(
    ImageConfigSchema,
    await readVerifiedDocument(source, manifest.config, 'image config'),
    `image config ${manifest.config.digest}`,
  );
  const platform = { os: config.os, architecture: config.architecture };
  if (config.os !== 'linux' || (config.architecture !== 'amd64' && config.architecture !== 'arm64')) {
    throw kernelImageInvalid(
      `${where} is for ${config.os}/${config.architecture}, not linux/amd64 or linux/arm64`,
      'kart installs Linux kernels for amd64 and arm64',
    );
  }
  const arch = parseArchOption(config.architecture);
  if (options.arch !== undefined && options.arch !== arch) {
    throw kernelImageInvalid(
      `${where} is for linux/${arch}, but linux/${options.arch} was asked for`,
      'choose the platform with --arch',
    );
  }

  const limits = withDeclaredRootfs(
    { ...DEFAULT_INSTALL_LIMITS, ...options.limits },
    manifest.annotations?.[ANNOTATIONS.imageBytes],
  );
  const area = await openInstallArea(options.dest, { adopt: options.adopt === true });
  try {
    return await withDiskErrors(area.dir, async () => {
      try {
        return await installLocked(options, manifest, arch, platform, limits);
      } catch (error) {
        // Another install's failure removed the empty area between our mkdir and our lock: once more.
        if ((error as NodeJS.ErrnoException).code !== 'ENOENT' || existsSync(area.dir)) throw error;
        return installLocked(options, manifest, arch, platform, limits);
      }
    });
  } finally {
    // A failed first install leaves no empty `.<dest>.kart` behind.
    await removeEmptyArea(area);
  }
}

async function installLocked(
  options: InstallKernelOptions,
  manifest: ReturnType<typeof ImageManifestSchema.parse>,
  arch: OciKernelArch,
  platform: InstallResult['platform'],
  limits: ManifestLimits,
): Promise<InstallResult> {
  const { source, manifest: manifestDesc } = options;
  const where = `manifest ${manifestDesc.digest}`;
  const areaOptions = { adopt: options.adopt === true };
  const area = await openInstallArea(options.dest, areaOptions);
  return withLayoutLock(area.dir, async () => {
    // Re-read under the lock: another install may have swapped DEST meanwhile.
    const locked = await openInstallArea(options.dest, areaOptions);
    await removeLeftovers(locked);
    const staging = await createStaging(locked);
    try {
      const tree = new LayerTree(
        staging,
        (path) => WANTED.has(path),
        (path) => fileLimit(limits, path),
      );
      for (const layer of manifest.layers) {
        await applyLayer(source, layer, tree, limits, options.onLayerFiles);
      }
      const staged = await assemble(tree, staging, where, limits);
      // Every kept file durable before anything trusts it; the syncs overlap (swapIn syncs the directory).
      // Read-only: pull -k's cache may share a file (a hard link to it), and kart.json records its
      // digest; a change is a mistake that `--verify-installed` and `cache verify` report.
      await Promise.all(
        staged.files.map(async (file) => {
          await chmod(join(staging, file.name), 0o444);
          await syncFile(join(staging, file.name));
        }),
      );
      const metadata = await verifyStaged(staging, staged, arch, where);
      // A guest bundle's image must hash to the root published with it, or nothing is installed.
      const guest = staged.files.some((file) => file.name === 'rootfs.img')
        ? await (
            await import('../../guest/bundle/installed-bundle.ts')
          ).checkStagedGuest(staging, metadata?.extra ?? {}, where)
        : undefined;
      const flavorCheck =
        options.flavor === undefined
          ? undefined
          : await requireFlavor(
              {
                config: staged.files.some((file) => file.name === 'config')
                  ? join(staging, 'config')
                  : undefined,
                what: "the kernel's config",
                outcome: 'nothing was installed',
              },
              options.flavor,
            );
      const record = {
        reference: options.reference ?? null,
        manifestDigest: manifestDesc.digest,
        platform,
        format: staged.format,
        installedAt: (options.now ?? new Date()).toISOString(),
        files: staged.files,
        ...(options.signature === undefined ? {} : { signature: options.signature }),
      };
      await writeDurable(join(staging, 'kart.json'), `${JSON.stringify(record, null, 2)}\n`);
      await options.beforeSwap?.();
      const { version, adopted } = await swapIn(
        locked,
        staging,
        digestHex(manifestDesc.digest),
        options.afterSwap,
      );
      return {
        dest: locked.dest,
        version,
        manifestDigest: manifestDesc.digest,
        platform,
        format: staged.format,
        files: staged.files,
        fileLayers: staged.layers,
        ...(metadata === undefined ? {} : { metadata }),
        ...(flavorCheck === undefined ? {} : { flavorCheck }),
        ...(adopted === undefined ? {} : { adopted }),
        ...(guest === undefined ? {} : { guest }),
      };
    } catch (error) {
      await rm(staging, { recursive: true, force: true });
      throw error;
    }
  });
}

/**
 * Streams one layer: fetch → verify digest and size → decompress (bounded) → tar entries → the tree.
 * A wanted hardlink to a file of the layer nobody wanted when it went by takes a second pass.
 */
async function applyLayer(
  source: Fetcher,
  layer: Descriptor,
  tree: LayerTree,
  limits: ManifestLimits,
  onLayerFiles: InstallKernelOptions['onLayerFiles'],
): Promise<void> {
  let uncompressed = false;
  await passOverLayer(source, layer, limits, (entries, name, compression, backing) => {
    uncompressed = compression === 'none';
    return tree.applyLayer(entries, {
      layerName: name,
      maxEntries: limits.layerEntries,
      ...(uncompressed ? { maxEntrySize: layer.size } : {}),
      ...(backing === undefined ? {} : { backing }),
    });
  });
  // Before a second pass: that reads the layer back from where this one was kept.
  if (uncompressed) await onLayerFiles?.(layer, tree.writtenByLastLayer());
  if (tree.unresolvedLinkTargets().size > 0) {
    await passOverLayer(source, layer, limits, (entries, name) => tree.resolveLinks(entries, name));
  }
}

async function passOverLayer(
  source: Fetcher,
  layer: Descriptor,
  limits: ManifestLimits,
  apply: (
    entries: AsyncIterable<LayerEntry>,
    name: string,
    compression: string,
    backing?: BackingFile,
  ) => Promise<void>,
): Promise<void> {
  const name = layer.digest;
  // A layer named as another file cannot hold the image; an unnamed one (after skopeo copy) may.
  const named = annotatedLayerFile(layer);
  await consumeLayer(
    source,
    layer,
    {
      expansion: layerExpansionLimit(limits, layer.size, named === undefined || named === ROOTFS_LAYER_PATH),
      invalid: (why, cause) => layerInvalid(name, why, cause),
    },
    (content, compression, backing) => apply(entriesOf(content), name, compression, backing),
  );
}

async function* entriesOf(stream: Readable): AsyncGenerator<LayerEntry> {
  for await (const entry of readTar(stream)) {
    yield {
      path: entry.path,
      type: ENTRY_TYPES[entry.type],
      size: entry.size,
      linkname: entry.linkname,
      body: entry.body,
      dataOffset: entry.offset + BLOCK_SIZE,
    };
  }
}

const ENTRY_TYPES = {
  file: 'file',
  dir: 'directory',
  symlink: 'symlink',
  hardlink: 'hardlink',
  char: 'char-device',
  block: 'block-device',
  fifo: 'fifo',
  other: 'other',
} as const satisfies Record<string, LayerEntry['type']>;

interface StagedKernel {
  format: InstallResult['format'];
  files: InstalledFile[];
  layers: InstallResult['fileLayers'];
}

/** Moves the kept files to their installed names inside staging; the config is stored uncompressed. */
async function assemble(
  tree: LayerTree,
  staging: string,
  where: string,
  limits: ManifestLimits,
): Promise<StagedKernel> {
  const files: InstalledFile[] = [];
  // Layers are named by their digests (applyLayer).
  const layers: StagedKernel['layers'] = {};
  const from = (file: StagedFile, name: InstalledFileName): void => {
    layers[name] = file.layers as Digest[];
  };
  const place = async (file: StagedFile, name: InstalledFileName): Promise<void> => {
    await rename(file.staged, join(staging, name));
    files.push({ name, size: file.size, digest: file.digest });
    from(file, name);
  };
  const image = tree.file('kernel/image');
  if (image !== undefined) {
    await place(image, 'kernel');
    const configGz = tree.file('kernel/config.gz');
    if (configGz !== undefined) {
      files.push(
        await gunzipInto(configGz.staged, join(staging, 'config'), 'kernel/config.gz', limits.configBytes),
      );
      from(configGz, 'config');
      await rm(configGz.staged);
    }
    const addons = tree.file('kernel/addons.squashfs');
    if (addons !== undefined) await place(addons, 'addons.squashfs');
    const metadata = tree.file('kernel/metadata');
    if (metadata !== undefined) await place(metadata, 'metadata');
    const rootfs = tree.file(ROOTFS_LAYER_PATH);
    if (rootfs !== undefined) await place(rootfs, 'rootfs.img');
    return { format: 'kernel-oci', files, layers };
  }
  const linuxkit = tree.file('kernel');
  if (linuxkit !== undefined) {
    await place(linuxkit, 'kernel');
    const dev = tree.file('kernel-dev.tar');
    if (dev !== undefined) {
      const config = await extractLinuxKitConfig(dev.staged, join(staging, 'config'));
      if (config !== undefined) {
        files.push(config);
        from(dev, 'config');
      }
      await rm(dev.staged);
    }
    const modules = tree.file('kernel.tar');
    if (modules !== undefined) await place(modules, 'kernel.tar');
    return { format: 'linuxkit', files, layers };
  }
  throw kernelImageInvalid(
    `${where} holds no kernel: neither kernel/image nor a LinuxKit kernel at the root`,
    'this is not a kernel image',
  );
}

async function gunzipInto(from: string, to: string, what: string, limit: number): Promise<InstalledFile> {
  const digesting = new DigestingStream();
  try {
    await pipeline(
      createReadStream(from),
      createGunzip(),
      new ByteLimit(limit, () =>
        kernelImageInvalid(
          `${what} decompresses to more than ${limit} bytes`,
          'no kernel config is that large',
        ),
      ),
      digesting,
      createWriteStream(to, { flags: 'wx' }),
    );
  } catch (error) {
    // The disk filling up is not damage in the image (install-kernel maps it to DISK_FULL).
    if (error instanceof KartError || !isDecompressionError(error)) throw error;
    throw kernelImageInvalid(
      `${what} does not decompress: ${(error as Error).message}`,
      'the image is damaged',
    );
  }
  return { name: 'config', size: digesting.bytes, digest: digesting.digest() };
}

/** LinuxKit keeps the .config only in kernel-dev.tar, at usr/src/linux-headers-<kver>/.config. */
async function extractLinuxKitConfig(tarPath: string, to: string): Promise<InstalledFile | undefined> {
  for await (const entry of readTar(createReadStream(tarPath))) {
    const path = entry.path.replace(/^(\.\/)+/, '');
    if (entry.type !== 'file' || !/^usr\/src\/[^/]+\/\.config$/.test(path)) continue;
    const digesting = new DigestingStream();
    await pipeline(entry.body, digesting, createWriteStream(to, { flags: 'wx' }));
    return { name: 'config', size: digesting.bytes, digest: digesting.digest() };
  }
  return undefined;
}

/** The files must agree with each other and with the platform before they may be installed. */
async function verifyStaged(
  staging: string,
  staged: StagedKernel,
  arch: OciKernelArch,
  where: string,
): Promise<ParsedKernelMetadata | undefined> {
  const kernelArch = kernelArchOf(arch);
  const image = await inspectKernelImage(join(staging, 'kernel')).catch((error: unknown) => {
    throw kernelImageInvalid(
      `${where}: the kernel image is not one kart can read: ${(error as Error).message}`,
      'the image does not hold a kernel for this platform',
    );
  });
  if (image.arch !== kernelArch) {
    throw kernelImageInvalid(
      `${where} is for linux/${arch}, but its kernel image is ${image.arch}`,
      'the image is mislabelled',
      { expected: kernelArch, actual: image.arch },
    );
  }
  const hasMetadata = staged.files.some((file) => file.name === 'metadata');
  if (!hasMetadata) return undefined;
  const metadata = parseKernelMetadata(await readFile(join(staging, 'metadata')), `${where} kernel/metadata`);
  if (metadata.arch !== kernelArch) {
    throw kernelImageInvalid(
      `${where}: kernel/metadata says KERNEL_ARCH=${metadata.arch}, but the platform is linux/${arch}`,
      'the image is mislabelled',
      { expected: kernelArch, actual: metadata.arch },
    );
  }
  const config = staged.files.find((file) => file.name === 'config');
  if (config !== undefined && config.digest !== metadata.configDigest) {
    throw kernelImageInvalid(
      `${where}: kernel/metadata says KERNEL_CONFIG=${metadata.configDigest}, but the config's sha256 is ${config.digest}`,
      'the config does not belong to this kernel',
      { expected: metadata.configDigest, actual: config.digest },
    );
  }
  return metadata;
}

async function writeDurable(path: string, text: string): Promise<void> {
  await writeFile(path, text, { flag: 'wx' });
  await syncFile(path);
}
