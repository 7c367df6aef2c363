import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KartError } from '../../errors.ts';
import {
  copyGraph,
  MemoryStore,
  openLayout,
  parseReference,
  type Descriptor,
  type Target,
  type TagLister,
} from '../../oci/index.ts';
import { fetchManifest } from '../../oci/manifest-io.ts';
import {
  discoverBuildInputs,
  packKernel,
  readConfigPayload,
  annotatedLayerFile,
  type BuildInputOptions,
  type PackKernelOptions,
  type LayerCompressionOption,
} from '../artifact/index.ts';
import { loadFlavor } from '../flavor/index.ts';
import { inspectKernelImage } from '../image/index.ts';
import {
  parsePublishVersion,
  planTags,
  refuseImmutableTagMoves,
  isImmutableTagMove,
  versionFromRelease,
  type PlannedTag,
  type TagMove,
  type TagTemplate,
} from '../tags/index.ts';
import { entryForPlatform, mergePlatformEntry, readTagIndex } from '../artifact/tag-index.ts';
import type { OpenTargetOptions } from '../../registry/open-target.ts';
import { publishDestination, type PublishDestinationOptions } from './publish-destination.ts';
import { throwIfAborted, type TransferOptions } from '../../oci/transfer-observer.ts';
import { tagPublishedBuild } from './tag-published-build.ts';
import { tagsMissingEntry, updateTagIndex, type TagIndexUpdate } from './update-tag-index.ts';
import type { SigningKey } from '../../signature/keys.ts';
import type { EnsuredSignature } from '../../signature/ensure-signed.ts';
import type { GuestBundleSource } from '../../guest/bundle/index.ts';
import { prepareBundle } from './publish-bundle.ts';

/**
 * `kart publish` as a library function: check → pack → push blobs → push the platform manifest by
 * digest → update the tags' indexes. The build is packed (and so checked against its flavor) into a
 * private staging layout before the destination is touched, so a refused build pushes nothing; blobs
 * and the manifest go up before any tag moves, so a failure before the tag step leaves every tag as it
 * was. Identical content uploads nothing and moves nothing (the result says `unchanged`).
 *
 * KERNEL_TAGS (the artifact's own list of its tags) holds the tags that stay with this build: V, the
 * immutable V-<config12>, --tag extras and template tags; not the moving aliases (MAJOR.MINOR, MAJOR,
 * latest). Those depend on what else the repository holds, and putting them in the bytes would make
 * the same build differ from one publish to the next, so it could never be "unchanged" and its
 * immutable tag would refuse it.
 */
export interface PublishKernelOptions
  extends
    BuildInputOptions,
    PublishDestinationOptions,
    TransferOptions,
    Pick<PackKernelOptions, 'format' | 'systemMap'> {
  /** Flavor name (shipped) or flavor file: the check, KERNEL_FLAVOR, the addons limit, the repository. */
  flavor: string;
  /** KERNEL_VERSION and the version tag; default the X.Y.Z prefix of the image's release. */
  version?: string;
  arch?: string;
  annotations?: Record<string, string>;
  compress?: LayerCompressionOption;
  sourceDateEpoch?: number;
  sourceUrl?: string;
  revision?: string;
  /** Extra tags (--tag). */
  tags?: string[];
  /** Turn the moving aliases off (--no-alias). */
  noAlias?: boolean;
  /** Other tag schemes (--tag-template). */
  template?: string | TagTemplate | readonly (string | TagTemplate)[];
  templateValues?: Readonly<Record<string, string>>;
  /** Move an immutable tag to other content anyway. */
  force?: boolean;
  /** Plan only: nothing is written to the destination. */
  dryRun?: boolean;
  /** How a registry destination is reached (--plain-http, --insecure, --ca-file, retries, ...). */
  target?: OpenTargetOptions;
  /** Open the destination; default: the registry room's openReference (layouts are created). */
  openDestination?: (
    reference: string,
    dryRun: boolean,
    transport: OpenTargetOptions,
  ) => Promise<{ target: Target; close(): Promise<void> }>;
  onProgress?: (message: string) => void;
  /** Sign every manifest and index written with this key (a PEM path or a read key): --sign-key. */
  signKey?: string | SigningKey;
  /** publish a Kata guest bundle: the kernel with its rootfs image (--rootfs / --rootfs-dir) */
  guest?: GuestBundleSource;
}

export interface PublishBlob {
  digest: string;
  size: number;
  mediaType: string;
  /** The layer's file (kernel/image, …), or "config" / "manifest". */
  what: string;
  action: 'upload' | 'present';
}

export interface PublishTag {
  tag: string;
  reason: PlannedTag['reason'];
  immutable: boolean;
  /** Index digest before (undefined: new tag). */
  previous: string | undefined;
  /** Index digest after (planned, for a dry run). */
  next: string;
  action: 'create' | 'move' | 'unchanged';
  platforms: string[];
}

export interface PublishResult {
  destination: string;
  version: string;
  flavor: string;
  platform: string;
  /** The platform manifest, pushed by digest. */
  manifest: Descriptor;
  /** KERNEL_CONFIG */
  configDigest: string;
  blobs: PublishBlob[];
  tags: PublishTag[];
  /** Bytes that were (or, for a dry run, would be) uploaded. */
  uploadBytes: number;
  /** Nothing uploaded and no tag moved. */
  unchanged: boolean;
  /** With signKey: the platform manifest's and each tag index's signature. */
  signatures?: EnsuredSignature[];
  dryRun: boolean;
}

export async function publishKernel(options: PublishKernelOptions): Promise<PublishResult> {
  const progress = options.onProgress ?? (() => {});
  const flavor = await loadFlavor(options.flavor);
  // Read before anything is pushed: a bad key refuses the publish, not the signing after it.
  const signing =
    options.signKey === undefined ? undefined : await import('../../signature/ensure-signed.ts');
  const signKey = options.signKey === undefined ? undefined : await signing!.readKeyOnce(options.signKey);
  const destination = publishDestination(options, flavor);

  // The version and KERNEL_CONFIG name the tags that go into the artifact, so they come first.
  const inputs = await discoverBuildInputs(options);
  const configPayload = await readConfigPayload(inputs.config);
  const configDigest = configPayload.digest;
  const version = options.version ?? versionFromRelease((await inspectKernelImage(inputs.kernel)).release);
  if (version === undefined) {
    throw new KartError(
      'VERSION_UNKNOWN',
      `cannot tell the kernel version from the release in ${inputs.kernel}`,
      {
        exitCode: 2,
        hint: 'pass --version X.Y.Z',
      },
    );
  }
  parsePublishVersion(version);
  const tagOptions = {
    version,
    configDigest,
    ...(options.tags === undefined ? {} : { extraTags: options.tags }),
    ...(options.template === undefined ? {} : { template: options.template }),
    ...(options.templateValues === undefined ? {} : { templateValues: options.templateValues }),
  };
  const stableTags = planTags({ ...tagOptions, existingTags: [], noAlias: true }).tags.map((t) => t.tag);

  const staging = await mkdtemp(join(tmpdir(), 'kart-publish-'));
  try {
    progress(`checking and packing ${inputs.kernel} as ${version} (flavor ${flavor.name})`);
    const packInto = async (stage: Target, tags: string[]) =>
      packKernel(
        {
          ...options,
          ...(bundle === undefined ? {} : { bundle }),
          flavor: options.flavor,
          version,
          tags,
          noCheck: false,
          configPayload,
          onProgress: progress,
        },
        stage,
      );
    const stage = await openLayout(join(staging, 'layout'), { create: true });
    const bundle =
      options.guest === undefined
        ? undefined
        : await prepareBundle(options.guest, staging, configPayload, inputs.config);
    const packed = await packInto(stage, stableTags);
    const entry: Descriptor = { ...packed.manifest, platform: packed.platform };
    const platform = `${packed.platform.os}/${packed.platform.architecture}`;

    const opened = await (options.openDestination ?? openDestinationDefault)(
      destination,
      options.dryRun === true,
      options.target ?? {},
    );
    try {
      const target = opened.target;
      progress(`reading the tags of ${destination}`);
      const existingTags = await listTags(target);
      const plan = planTags({ ...tagOptions, existingTags, noAlias: options.noAlias === true });

      const blobs = await planBlobs(stage, target, packed.manifest);
      const tags: PublishTag[] = [];
      const moves: TagMove[] = [];
      for (const planned of plan.tags) {
        const state = await readTagIndex(target, planned.tag);
        const merged = mergePlatformEntry(state.entries, entry);
        const previous = state.root?.digest;
        const next = merged.descriptor.digest;
        tags.push({
          tag: planned.tag,
          reason: planned.reason,
          immutable: planned.immutable,
          previous,
          next,
          action: previous === undefined ? 'create' : previous === next ? 'unchanged' : 'move',
          platforms: merged.index.manifests.map(
            (m) => `${m.platform?.os ?? '?'}/${m.platform?.architecture ?? '?'}`,
          ),
        });
        // An immutable tag vouches for this arch's manifest; adding another arch to it is no move.
        moves.push({
          tag: planned,
          current: entryForPlatform(state.entries, entry)?.digest,
          next: entry.digest,
        });
      }
      const refusal = immutableRefusal(moves, options, destination);
      if (refusal !== undefined) {
        // Refused, unless only --tag made this build differ from the one already published: then the
        // extra tags go on that one (tag-published-build.ts). Packing is deterministic, so the build
        // packed without them is byte for byte the published one when nothing else changed.
        const extra = plan.tags.filter((t) => t.reason === 'extra');
        if (extra.length === 0) throw refusal;
        const originalStage = await openLayout(join(staging, 'without-extra-tags'), { create: true });
        const extraNames = new Set(extra.map((t) => t.tag));
        const original = await packInto(
          originalStage,
          stableTags.filter((t) => !extraNames.has(t)),
        );
        if (!moves.filter(isImmutableTagMove).every((m) => m.current === original.manifest.digest))
          throw refusal;
        progress(
          `${destination} already holds this build (${original.manifest.digest}); adding ${[...extraNames].join(', ')}`,
        );
        const tagged = await tagPublishedBuild(
          target,
          extra,
          { ...original.manifest, platform: original.platform },
          {
            dryRun: options.dryRun === true,
            onRetry: (tag, attempt) =>
              progress(`${tag}: the index changed meanwhile; merging again (attempt ${attempt})`),
          },
        );
        const present = await planBlobs(originalStage, target, original.manifest);
        return {
          destination,
          version,
          flavor: flavor.name,
          platform,
          manifest: original.manifest,
          configDigest,
          blobs: present,
          uploadBytes: 0,
          tags: tagged,
          unchanged: isUnchanged(present, tagged),
          dryRun: options.dryRun === true,
        };
      }

      const uploadBytes = blobs.filter((b) => b.action === 'upload').reduce((sum, b) => sum + b.size, 0);
      const base = {
        destination,
        version,
        flavor: flavor.name,
        platform,
        manifest: packed.manifest,
        configDigest,
        blobs,
        uploadBytes,
      };
      if (options.dryRun) {
        return { ...base, tags, unchanged: isUnchanged(blobs, tags), dryRun: true };
      }

      const toUpload = blobs.filter((b) => b.action === 'upload');
      if (toUpload.length > 0)
        progress(`pushing ${toUpload.length} blob(s), ${uploadBytes} bytes, to ${destination}`);
      await copyGraph(stage, target, packed.manifest, {
        signal: options.signal,
        onTransfer: options.onTransfer,
      });
      // The last moment to stop: past it the tags move, all of them.
      throwIfAborted(options.signal);

      const done = new Map<string, TagIndexUpdate>();
      const retry = (tag: string, attempt: number): void =>
        progress(`${tag}: the index changed meanwhile; merging again (attempt ${attempt})`);
      for (const planned of plan.tags) {
        done.set(planned.tag, await updateTagIndex(target, planned.tag, entry, { onRetry: retry }));
      }
      // A concurrent publisher may have overwritten a tag after this one's own check: merge again.
      // Still missing after the last round: say so, rather than report a publish that lost its arch.
      for (let round = 0; ; round++) {
        const missing = await tagsMissingEntry(target, [...done.keys()], entry);
        if (missing.length === 0) break;
        if (round === FINAL_PASS_ROUNDS) throw platformLostFromTags(destination, missing, platform);
        for (const tag of missing) {
          const again = await updateTagIndex(target, tag, entry, { onRetry: retry });
          const first = done.get(tag);
          done.set(tag, {
            ...again,
            previous: first?.previous,
            action: first?.previous === undefined ? 'create' : 'move',
          });
        }
      }
      const applied = tags.map((t): PublishTag => {
        const update = done.get(t.tag);
        return update === undefined
          ? t
          : {
              ...t,
              previous: update.previous,
              next: update.next,
              action: update.action,
              platforms: update.platforms,
            };
      });
      const signatures =
        signKey === undefined
          ? undefined
          : await signing!.ensureSigned(
              target,
              [packed.manifest.digest, ...applied.map((t) => t.next)],
              signKey,
            );
      return {
        ...base,
        tags: applied,
        unchanged: isUnchanged(blobs, applied),
        dryRun: false,
        ...(signatures === undefined ? {} : { signatures }),
      };
    } finally {
      await opened.close();
    }
  } finally {
    await rm(staging, { recursive: true, force: true });
  }
}

/** Rounds of the final pass that re-merges this platform into tags a concurrent writer overwrote. */
const FINAL_PASS_ROUNDS = 3;

function platformLostFromTags(destination: string, tags: string[], platform: string): KartError {
  return new KartError(
    'PUBLISH_INDEX_CONFLICT',
    `${destination}: ${tags.join(', ')} still lack ${platform} after ${FINAL_PASS_ROUNDS} merges; another publisher keeps overwriting ${tags.length === 1 ? 'that tag' : 'those tags'}`,
    {
      exitCode: 3,
      hint: 'run publish again when the other publisher is done (it is idempotent: it uploads nothing twice)',
      details: { tags, platform, rounds: FINAL_PASS_ROUNDS },
    },
  );
}

function isUnchanged(blobs: readonly PublishBlob[], tags: readonly PublishTag[]): boolean {
  return blobs.every((b) => b.action === 'present') && tags.every((t) => t.action === 'unchanged');
}

/** The manifest's config, layers and the manifest itself, each marked present or to upload. */
async function planBlobs(stage: Target, target: Target, manifest: Descriptor): Promise<PublishBlob[]> {
  const fetched = await fetchManifest(stage, manifest);
  if (fetched.kind !== 'manifest') throw new Error('packKernel returned an index as its manifest');
  const nodes: { desc: Descriptor; what: string }[] = [
    { desc: fetched.manifest.config, what: 'config' },
    ...fetched.manifest.layers.map((layer) => ({
      desc: layer,
      what: annotatedLayerFile(layer) ?? 'layer',
    })),
    { desc: manifest, what: 'manifest' },
  ];
  const blobs: PublishBlob[] = [];
  for (const { desc, what } of nodes) {
    blobs.push({
      digest: desc.digest,
      size: desc.size,
      mediaType: desc.mediaType,
      what,
      action: (await target.exists(desc)) ? 'present' : 'upload',
    });
  }
  return blobs;
}

function isTagLister(target: Target): target is Target & TagLister {
  return typeof (target as Partial<TagLister>).tags === 'function';
}

/** Every tag of the destination (all pages): the tag policy compares against all of them. */
async function listTags(target: Target): Promise<string[]> {
  if (!isTagLister(target)) {
    throw new KartError(
      'PUBLISH_TAGS_UNLISTABLE',
      `${target.name} cannot list its tags, so the tag policy cannot run`,
      {
        exitCode: 2,
        hint: 'publish to a registry repository or an OCI layout directory',
      },
    );
  }
  const tags: string[] = [];
  try {
    for await (const tag of target.tags()) tags.push(tag);
  } catch (error) {
    // A repository that does not exist yet has no tags: the first publish creates it.
    if (error instanceof KartError && error.code === 'NOT_FOUND') return [];
    throw error;
  }
  return tags;
}

async function openDestinationDefault(
  reference: string,
  dryRun: boolean,
  transport: OpenTargetOptions,
): Promise<{ target: Target; close(): Promise<void> }> {
  const parsed = parseReference(reference);
  if (dryRun && parsed.kind === 'layout' && !existsSync(parsed.dir)) {
    // A dry run creates nothing: a layout that does not exist yet plans as an empty one.
    return { target: new MemoryStore(reference), close: async () => {} };
  }
  const { openReference } = await import('../../registry/index.ts');
  // Not a dry run: opened for pushing (a registry token for pull,push from the first request).
  const opened = await openReference(reference, { ...transport, create: !dryRun });
  return { target: opened.target, close: () => opened.close() };
}

/**
 * The refusal of an immutable tag's move, or undefined when none moves (or --force). With --tag, whose
 * tags are part of the build's metadata (KERNEL_TAGS), the hint names the `kart tag` command that puts
 * them on the build already published (publish does that itself when only --tag differs).
 */
function immutableRefusal(
  moves: readonly TagMove[],
  options: PublishKernelOptions,
  destination: string,
): KartError | undefined {
  try {
    refuseImmutableTagMoves(moves, { force: options.force === true });
    return undefined;
  } catch (error) {
    const extra = options.tags ?? [];
    if (!(error instanceof KartError) || error.code !== 'TAG_IMMUTABLE') throw error;
    if (extra.length === 0) return error;
    const published = moves.find(isImmutableTagMove)!.tag.tag;
    const command = `kart tag ${destination}:${published} ${extra.join(' ')}`;
    return new KartError('TAG_IMMUTABLE', `${error.message} (--tag changes the build's metadata)`, {
      exitCode: 2,
      hint: `${error.hint}; to put ${extra.join(', ')} on the build already published instead, run: ${command}`,
      details: { ...error.details, command },
      cause: error,
    });
  }
}
