import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdtemp, open, rename, rm, stat, unlink, writeFile, type FileHandle } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { derivedUuid } from '../derived-uuid.ts';
import { syncDirectory, tempSiblingPath } from '../../oci/atomic-file.ts';
import { kernelCommandLine, type GuestDisk } from '../boot/kernel-command-line.ts';
import { formatKernelVerityParams, kernelVerityParamsOf } from '../boot/kernel-verity-params.ts';
import { formatVerity } from '../verity/format-verity.ts';
import type { SaltChoice } from '../verity/salt.ts';
import type { VerityParams } from '../verity/verity-params.ts';
import { kataErofsImageMiB, makeErofs } from './erofs-filesystem.ts';
import { isOutOfSpace, makeExt4, runDebugfsScript } from './ext4-filesystem.ts';
import {
  DAX_HEADER_MIB,
  headerWrites,
  imageSizeFor,
  MIB,
  rootfsLayout,
  type RootfsLayout,
} from './image-layout.ts';
import { rootfsOptionInvalid, rootfsToolFailed } from './rootfs-errors.ts';
import { checkGuestInit, walkRootfsTree, type RootfsTreeSummary } from './rootfs-tree.ts';
import { makeXfs, writeXfsProtofile, XFS_MIN_MIB } from './xfs-filesystem.ts';

export type RootfsFsType = 'ext4' | 'erofs' | 'xfs';

export interface RootfsBuildOptions {
  sourceDir: string;
  output: string;
  fsType?: RootfsFsType;
  /** Kata's NVDIMM header (MBR #1, nd_pfn_sb, MBR #2 at 2 MiB); default false */
  dax?: boolean;
  /** the dm-verity hash tree in partition 2; default false */
  verity?: boolean;
  salt?: SaltChoice;
  /** extra free space in the filesystem, MiB (Kata's ROOT_FREE_SPACE) */
  freeSpaceMiB?: number;
  /** image size multiple, MiB; default 128 for ext4 (Kata's IMAGE_SIZE_ALIGNMENT_MB), none for EROFS */
  alignMiB?: number;
  /** refuse a tree without sbin/init or usr/bin/kata-agent; default true */
  initCheck?: boolean;
  /** every file's times, seconds (SOURCE_DATE_EPOCH); default 0 */
  sourceDateEpoch?: number;
  /** the filesystem UUID; default derived from the tree's listing */
  uuid?: string;
}

export interface BuiltRootfs {
  image: string;
  imageBytes: number;
  fsType: RootfsFsType;
  uuid: string;
  layout: RootfsLayout;
  verity?: VerityParams;
  /** the kernel_verity_params line (with verity) */
  kernelVerityParams?: string;
  /** the kernel parameters per way the guest can see the image (virtio-blk always; nvdimm with DAX) */
  kernelCommandLines?: Partial<Record<GuestDisk, string>>;
}

const MAX_GROWTH_TRIES = 8;

function checkMiB(name: string, value: number, min: number): void {
  if (!Number.isSafeInteger(value) || value < min) {
    throw rootfsOptionInvalid(
      `${name} ${value} is not a whole number of MiB of at least ${min}`,
      `e.g. ${name} 128`,
    );
  }
}

async function writeAt(handle: FileHandle, bytes: Buffer, position: number): Promise<void> {
  let done = 0;
  while (done < bytes.length)
    done += (await handle.write(bytes, done, bytes.length - done, position + done)).bytesWritten;
}

/**
 * Builds a Kata guest image from a directory, as an ordinary user: the filesystem written at its
 * partition's offset by mke2fs -d (or mkfs.erofs and a copy), owners and times fixed for
 * reproducibility, the partition table(s) and DAX header written by kart, the hash tree computed in
 * TypeScript into partition 2. The image is built beside OUTPUT and renamed over it only when whole.
 */
export async function buildRootfsImage(options: RootfsBuildOptions): Promise<BuiltRootfs> {
  const fsType = options.fsType ?? 'ext4';
  const dax = options.dax ?? false;
  const verity = options.verity ?? false;
  const freeSpaceMiB = options.freeSpaceMiB ?? 0;
  const epoch = options.sourceDateEpoch ?? 0;
  checkMiB('--free-space', freeSpaceMiB, 0);
  if (options.alignMiB !== undefined) checkMiB('--align', options.alignMiB, 1);
  if (fsType === 'erofs' && freeSpaceMiB > 0) {
    throw rootfsOptionInvalid(
      '--free-space: an EROFS filesystem is read-only, free space is never usable',
      'drop --free-space, or use --fs ext4',
    );
  }
  if (options.initCheck ?? true) await checkGuestInit(options.sourceDir);

  const scratch = await mkdtemp(join(tmpdir(), 'kart-rootfs-'));
  const temp = tempSiblingPath(options.output);
  try {
    // A non-root build maps every owner to root: the user's own files are the guest's root files.
    const allRoot = process.getuid?.() !== 0;
    const script = join(scratch, 'fixup.debugfs');
    const summary = await writeFixupScript(options.sourceDir, script, { epoch, allRoot, scratch });
    const uuid =
      options.uuid ?? derivedUuid(`kart rootfs uuid ${fsType} ${epoch} v1\n`, summary.listingDigest);
    const seeds = createHash('sha256').update(uuid).digest();
    const signatures: [number, number] = [seeds.readUInt32LE(0), seeds.readUInt32LE(4)];

    let layout: RootfsLayout;
    if (fsType === 'ext4') {
      layout = await buildExt4Image(temp, options.sourceDir, summary, {
        dax,
        verity,
        freeSpaceMiB,
        alignMiB: options.alignMiB ?? 128,
        uuid,
        hashSeed: derivedUuid('kart rootfs hash seed v1\n', seeds),
        fsTime: Math.max(epoch, 1),
        script,
      });
    } else if (fsType === 'xfs') {
      layout = await buildXfsImage(temp, options.sourceDir, scratch, summary, {
        dax,
        verity,
        freeSpaceMiB,
        alignMiB: options.alignMiB ?? 128,
        uuid,
        epoch,
        allRoot,
      });
    } else {
      layout = await buildErofsImage(temp, options.sourceDir, scratch, {
        dax,
        verity,
        alignMiB: options.alignMiB,
        uuid,
        epoch,
        allRoot,
      });
    }
    const handle = await open(temp, 'r+');
    try {
      for (const write of headerWrites(layout, signatures)) await writeAt(handle, write.bytes, write.offset);
      await handle.sync();
    } finally {
      await handle.close();
    }
    let tree: VerityParams | undefined;
    if (layout.hash !== undefined) {
      tree = await formatVerity({
        dataPath: temp,
        hashPath: temp,
        dataOffset: layout.data.offset,
        dataBlocks: layout.data.bytes / 4096,
        hashOffset: layout.hash.offset,
        superblock: false,
        salt: options.salt ?? 'content',
      });
      if (tree.hashBlocks * tree.hashBlockSize > layout.hash.bytes) {
        throw rootfsOptionInvalid(
          `the hash tree (${tree.hashBlocks} blocks) does not fit partition 2`,
          'use a bigger --align',
        );
      }
    }
    await rename(temp, options.output);
    await syncDirectory(dirname(options.output));
    const built: BuiltRootfs = {
      image: options.output,
      imageBytes: layout.imageMiB * MIB,
      fsType,
      uuid,
      layout,
    };
    if (tree !== undefined) {
      const knob = kernelVerityParamsOf(tree);
      built.verity = tree;
      built.kernelVerityParams = formatKernelVerityParams(knob);
      built.kernelCommandLines = { 'virtio-blk': kernelCommandLine(knob, 'virtio-blk', fsType).line };
      if (dax) built.kernelCommandLines.nvdimm = kernelCommandLine(knob, 'nvdimm', fsType).line;
    }
    return built;
  } catch (error) {
    await unlink(temp).catch(() => undefined);
    throw error;
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
}

/** The debugfs commands that give every inode fixed times (and, for a non-root build, root's owner). */
async function writeFixupScript(
  sourceDir: string,
  script: string,
  options: { epoch: number; allRoot: boolean; scratch: string },
): Promise<RootfsTreeSummary> {
  const out = await open(script, 'wx');
  const fields = ['atime', 'mtime', 'ctime', 'crtime'].map((field) => `${field} @${options.epoch}`);
  if (options.allRoot) fields.push('uid 0', 'gid 0');
  const commandsFor = (path: string) => fields.map((field) => `sif "${path}" ${field}\n`).join('');
  try {
    const summary = await walkRootfsTree(sourceDir, (path) =>
      out.write(commandsFor(path)).then(() => undefined),
    );
    if (summary.hasEtc && !summary.hasMachineId) {
      // Kata's builder touches /etc/machine-id so systemd starts with an empty, not a missing, one.
      const empty = join(options.scratch, 'empty');
      await (await open(empty, 'wx')).close();
      await out.write(`write "${empty}" "/etc/machine-id"\nsif "/etc/machine-id" mode 0100644\n`);
      await out.write(fields.map((field) => `sif "/etc/machine-id" ${field}\n`).join(''));
      if (!options.allRoot) await out.write('sif "/etc/machine-id" uid 0\nsif "/etc/machine-id" gid 0\n');
    }
    return summary;
  } finally {
    await out.close();
  }
}

async function createSparse(path: string, bytes: number): Promise<void> {
  const handle = await open(path, 'wx', 0o644);
  try {
    await handle.truncate(bytes);
  } finally {
    await handle.close();
  }
}

/** What a filesystem sized from the tree and grown on ENOSPC (ext4, xfs) is built with. */
interface GrownImageOptions {
  dax: boolean;
  verity: boolean;
  freeSpaceMiB: number;
  alignMiB: number;
  uuid: string;
}

/** The tree's content plus a tenth, and an inode's worth per entry, in MiB. */
function contentMiBOf(summary: RootfsTreeSummary): number {
  return Math.ceil((summary.blockBytes * 1.1 + summary.entries * 512) / MIB);
}

async function buildExt4Image(
  temp: string,
  sourceDir: string,
  summary: RootfsTreeSummary,
  options: GrownImageOptions & { hashSeed: string; fsTime: number; script: string },
): Promise<RootfsLayout> {
  // A first guess: the content plus a tenth, an inode per 4 KiB of it, the journal; then grow on ENOSPC
  // (Kata finds its size by trial mounts, which need root).
  let layout = imageSizeFor(contentMiBOf(summary) + 24 + options.freeSpaceMiB, options);
  for (let attempt = 1; ; attempt++) {
    await createSparse(temp, layout.imageMiB * MIB);
    try {
      await makeExt4({
        image: temp,
        offset: layout.data.offset,
        blocks: layout.data.bytes / 4096,
        sourceDir,
        uuid: options.uuid,
        hashSeed: options.hashSeed,
        fsTime: options.fsTime,
      });
      break;
    } catch (error) {
      await unlink(temp);
      if (!isOutOfSpace(error) || attempt === MAX_GROWTH_TRIES) throw error;
      layout = rootfsLayoutAtLeast(layout.imageMiB + options.alignMiB, options);
    }
  }
  await runDebugfsScript(temp, layout.data.offset, options.script, options.fsTime);
  return layout;
}

function rootfsLayoutAtLeast(
  imageMiB: number,
  options: { dax: boolean; verity: boolean; alignMiB: number },
): RootfsLayout {
  return imageSizeFor(rootfsLayout(imageMiB, options).data.bytes / MIB, options);
}

async function buildErofsImage(
  temp: string,
  sourceDir: string,
  scratch: string,
  options: {
    dax: boolean;
    verity: boolean;
    alignMiB: number | undefined;
    uuid: string;
    epoch: number;
    allRoot: boolean;
  },
): Promise<RootfsLayout> {
  const fsFile = join(scratch, 'rootfs.erofs');
  await makeErofs({
    file: fsFile,
    sourceDir,
    uuid: options.uuid,
    time: options.epoch,
    allRoot: options.allRoot,
  });
  const fsBytes = (await stat(fsFile)).size;
  let imageMiB = kataErofsImageMiB(fsBytes, options.verity) + (options.dax ? DAX_HEADER_MIB : 0);
  const align = options.alignMiB ?? 1;
  imageMiB = Math.ceil(imageMiB / align) * align;
  let layout: RootfsLayout | undefined;
  for (let tries = 0; layout === undefined; tries++) {
    try {
      const candidate = rootfsLayout(imageMiB, options);
      if (candidate.data.bytes >= fsBytes) layout = candidate;
      else imageMiB += align;
    } catch (error) {
      if (tries === MAX_GROWTH_TRIES) throw error;
      imageMiB += align;
    }
  }
  await copyIntoImage(fsFile, temp, layout, 'EROFS');
  return layout;
}

/**
 * A filesystem made in its own file goes into partition 1 of a fresh sparse image. Chunks of zeros are
 * skipped (the image reads them as zeros anyway): an xfs partition is mostly empty, and stays sparse.
 */
async function copyIntoImage(
  fsFile: string,
  temp: string,
  layout: RootfsLayout,
  what: string,
): Promise<void> {
  await createSparse(temp, layout.imageMiB * MIB);
  const zeros = Buffer.alloc(MIB);
  const handle = await open(temp, 'r+');
  try {
    let at = layout.data.offset;
    for await (const chunk of createReadStream(fsFile, { highWaterMark: MIB })) {
      const bytes = chunk as Buffer;
      if (!bytes.equals(zeros.subarray(0, bytes.length))) await writeAt(handle, bytes, at);
      at += bytes.length;
    }
  } catch (error) {
    throw rootfsToolFailed(`copy of the ${what} image`, (error as Error).message, '');
  } finally {
    await handle.close();
  }
}

/**
 * xfs (Kata's `mkfs.xfs -m reflink=0 -b size=4096`) sized to partition 1, filled from a protofile and
 * made reproducible by xfs-filesystem.ts; grown by one alignment step while mkfs.xfs runs out of space.
 */
async function buildXfsImage(
  temp: string,
  sourceDir: string,
  scratch: string,
  summary: RootfsTreeSummary,
  options: GrownImageOptions & { epoch: number; allRoot: boolean },
): Promise<RootfsLayout> {
  const protofile = join(scratch, 'xfs.proto');
  const emptyFile = join(scratch, 'xfs-empty');
  await writeFile(emptyFile, '', { flag: 'wx' });
  const { sticky } = await writeXfsProtofile(sourceDir, protofile, { allRoot: options.allRoot, emptyFile });
  // The content, a tenth more, an inode per entry, and the log; never under xfsprogs' minimum.
  const fsMiB = contentMiBOf(summary) + 64 + options.freeSpaceMiB;
  let layout = imageSizeFor(Math.max(XFS_MIN_MIB, fsMiB), options);
  const fsFile = join(scratch, 'rootfs.xfs');
  for (let attempt = 1; ; attempt++) {
    await rm(fsFile, { force: true });
    await createSparse(fsFile, layout.data.bytes);
    try {
      await makeXfs({
        file: fsFile,
        protofile,
        script: join(scratch, `xfs-fixup.${attempt}`),
        uuid: options.uuid,
        epoch: options.epoch,
        sticky,
      });
      break;
    } catch (error) {
      if (!/No space left on device/.test((error as Error).message) || attempt === MAX_GROWTH_TRIES)
        throw error;
      layout = rootfsLayoutAtLeast(layout.imageMiB + options.alignMiB, options);
    }
  }
  await copyIntoImage(fsFile, temp, layout, 'xfs');
  return layout;
}
