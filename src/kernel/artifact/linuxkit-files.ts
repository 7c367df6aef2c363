import { createWriteStream } from 'node:fs';
import { lstat, readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { KartError } from '../../errors.ts';
import { tarLayer, type TarFileEntry } from '../../oci/index.ts';
import { resolveModulesTree } from '../addons/modules-tree.ts';
import type { ArtifactFile } from './kernel-layers.ts';

/**
 * The files of `--format linuxkit`: what LinuxKit's kernel images hold at their root, and what its
 * `linuxkit build` takes from a kernel image by default (moby/build/build.go kernelFilter: the file
 * `kernel` and the tar `kernel.tar`, whose entries it copies into the VM image):
 *
 *   kernel          the kernel image, unchanged
 *   kernel.tar      lib/modules/<release>/… from --modules (only when modules are given)
 *   kernel-dev.tar  usr/src/linux-headers-<release>/.config, where LinuxKit keeps the config
 *   System.map      when given
 *
 * Each file is its own layer (a consumer can fetch one), at the image root, with no directory entry,
 * so a flattening reader (go-containerregistry's mutate.Extract) finds `kernel` as a regular file.
 */
export const LINUXKIT_KERNEL = 'kernel';
export const LINUXKIT_MODULES_TAR = 'kernel.tar';
export const LINUXKIT_DEV_TAR = 'kernel-dev.tar';
export const LINUXKIT_SYSTEM_MAP = 'System.map';

export interface LinuxKitInputs {
  kernel: string;
  kernelSize: number;
  /** the image's release (`uname -r`): names the headers directory */
  release: string;
  /** the uncompressed .config */
  config: Buffer;
  /** a lib/modules/<release> tree or its parent */
  modules?: string;
  systemMap?: string;
  /** a private scratch directory: kernel.tar is written there */
  work: string;
  mtime: number;
}

export async function linuxKitFiles(inputs: LinuxKitInputs): Promise<ArtifactFile[]> {
  const files: ArtifactFile[] = [{ path: LINUXKIT_KERNEL, size: inputs.kernelSize, source: inputs.kernel }];
  if (inputs.modules !== undefined) {
    const path = join(inputs.work, LINUXKIT_MODULES_TAR);
    const size = await writeModulesTar(inputs.modules, inputs.release, path, inputs.mtime);
    files.push({ path: LINUXKIT_MODULES_TAR, size, source: path });
  }
  const dev = await collect(
    tarLayer(
      [
        {
          path: `usr/src/linux-headers-${inputs.release}/.config`,
          size: inputs.config.length,
          source: () => Readable.from([inputs.config]),
        },
      ],
      { mtime: inputs.mtime },
    ),
  );
  files.push({ path: LINUXKIT_DEV_TAR, size: dev.length, source: dev });
  if (inputs.systemMap !== undefined) {
    const info = await stat(inputs.systemMap).catch(() => undefined);
    if (info?.isFile() !== true) {
      throw new KartError('BUILD_INPUT_NOT_FOUND', `System.map ${inputs.systemMap} is not a readable file`, {
        hint: 'pass the System.map the kernel build wrote, or leave --system-map out',
      });
    }
    files.push({ path: LINUXKIT_SYSTEM_MAP, size: info.size, source: inputs.systemMap });
  }
  return files;
}

/** kernel.tar: every file of the release tree under lib/modules/<release>/, sorted, deterministic. */
async function writeModulesTar(modules: string, release: string, to: string, mtime: number): Promise<number> {
  const tree = await resolveModulesTree(modules);
  if (tree.release !== release) {
    throw new KartError(
      'MODULES_RELEASE_MISMATCH',
      `the modules in ${tree.dir} are for ${tree.release}, but the kernel image is ${release}`,
      { hint: 'pass the lib/modules tree that was built with this kernel' },
    );
  }
  const entries: TarFileEntry[] = [];
  const walk = async (dir: string, relative: string): Promise<void> => {
    const names = (await readdir(dir)).sort();
    for (const name of names) {
      if (relative === '' && tree.excluded.includes(name)) continue;
      const path = join(dir, name);
      const inTar = `lib/modules/${release}/${relative}${name}`;
      const info = await lstat(path);
      if (info.isDirectory()) await walk(path, `${relative}${name}/`);
      else if (info.isFile()) entries.push({ path: inTar, size: info.size, source: path });
      else {
        throw new KartError(
          'MODULES_ENTRY_UNSUPPORTED',
          `${path} in the modules tree is neither a file nor a directory`,
          {
            hint: 'kernel.tar holds the files `make modules_install` writes; remove links and special files',
          },
        );
      }
    }
  };
  await walk(tree.dir, '');
  const out = createWriteStream(to, { flags: 'wx' });
  await pipeline(tarLayer(entries, { mtime }), out);
  return (await stat(to)).size;
}

async function collect(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}
