import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdtemp, open, rename, rm, stat, unlink, type FileHandle } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { pipeline } from 'node:stream/promises';
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

export type RootfsFsType = 'ext4' | 'erofs';

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

async function buildExt4Image(
  temp: string,
  sourceDir: string,
  summary: RootfsTreeSummary,
  options: {
    dax: boolean;
    verity: boolean;
    freeSpaceMiB: number;
    alignMiB: number;
    uuid: string;
    hashSeed: string;
    fsTime: number;
    script: string;
  },
): Promise<RootfsLayout> {
  // A first guess: the content plus a tenth, an inode per 4 KiB of it, the journal; then grow on ENOSPC
  // (Kata finds its size by trial mounts, which need root).
  const contentMiB = Math.ceil((summary.blockBytes * 1.1 + summary.entries * 512) / MIB);
  let layout = imageSizeFor(contentMiB + 24 + options.freeSpaceMiB, options);
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
  await createSparse(temp, layout.imageMiB * MIB);
  const target = createWriteStream(temp, { flags: 'r+', start: layout.data.offset });
  await pipeline(createReadStream(fsFile), target).catch((error: Error) => {
    throw rootfsToolFailed('copy of the EROFS image', error.message, '');
  });
  return layout;
}
