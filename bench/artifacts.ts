/**
 * The bench inputs, packed by kart into OCI layouts:
 *  - kernel: Debian's amd64 kernel with its modules squashed into addons.squashfs (~100 MB);
 *  - big: the same kernel with a synthetic 1 GiB addons image: a squashfs 4.0 superblock (what pack
 *    checks) followed by incompressible random bytes, written as a stream (never whole in memory).
 */
import { randomFillSync } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { once } from 'node:events';
import { packKernel } from '../src/kernel/artifact/index.ts';
import { openLayout } from '../src/oci/layout.ts';
import { debianKernelPaths, ensureDebianAddons, ensureDebianKernel } from '../test/support/debian-kernels.ts';
import { squashfsSuperblock } from '../test/support/synthetic-squashfs.ts';

export const KERNEL_TAG = 'bench';
export const BIG_TAG = 'big';

export async function packDebianKernel(layoutDir: string): Promise<void> {
  ensureDebianKernel('amd64');
  const kernel = debianKernelPaths('amd64');
  const addons = await ensureDebianAddons('amd64');
  await packKernel(
    {
      kernel: kernel.vmlinuz,
      config: kernel.config,
      addons,
      flavor: 'host',
      noCheck: true,
      tags: [KERNEL_TAG],
    },
    await openLayout(layoutDir, { create: true }),
  );
}

/** A file that passes pack's squashfs superblock check, `size` bytes, random after the superblock. */
export async function writeSyntheticSquashfs(path: string, size: number): Promise<void> {
  const superblock = squashfsSuperblock(size, 1_700_000_000);
  const out = createWriteStream(path);
  out.write(superblock);
  const chunk = Buffer.alloc(1024 * 1024);
  for (let written = superblock.length; written < size;) {
    const n = Math.min(chunk.length, size - written);
    randomFillSync(chunk, 0, n);
    if (!out.write(Buffer.from(chunk.subarray(0, n)))) await once(out, 'drain');
    written += n;
  }
  out.end();
  await once(out, 'finish');
}

export async function packBigKernel(layoutDir: string, addonsPath: string): Promise<void> {
  const kernel = debianKernelPaths('amd64');
  // kvm-guest sets no addons size limit (host's is 400 MiB); the requirements are not the point here.
  await packKernel(
    {
      kernel: kernel.vmlinuz,
      config: kernel.config,
      addons: addonsPath,
      flavor: 'kvm-guest',
      noCheck: true,
      tags: [BIG_TAG],
    },
    await openLayout(layoutDir, { create: true }),
  );
}
