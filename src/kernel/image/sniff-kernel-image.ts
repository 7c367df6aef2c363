import { open } from 'node:fs/promises';
import { createGunzip } from 'node:zlib';
import { isArm64Image } from './arm64-image.ts';
import { isBzImage } from './bzimage.ts';
import { isElf } from './vmlinux-elf.ts';
import { isZboot } from './zboot.ts';

const HEAD_BYTES = 1024;
const GZIP_PEEK = 64 * 1024;

/**
 * Whether a file starts like a kernel image (by its magics, never its name) rather than a config:
 * an ELF, a bzImage, an arm64 Image, an EFI zboot image, or gzip whose first inflated bytes are an
 * arm64 Image (an Image.gz; a config.gz inflates to text). Reads at most 64 KiB; false for anything
 * unreadable, which the config reader then reports.
 */
export async function looksLikeKernelImage(path: string): Promise<boolean> {
  let handle;
  try {
    handle = await open(path, 'r');
  } catch {
    return false;
  }
  try {
    const { buffer, bytesRead } = await handle
      .read(Buffer.alloc(GZIP_PEEK), 0, GZIP_PEEK, 0)
      .catch(() => ({ buffer: Buffer.alloc(0), bytesRead: 0 }));
    const bytes = buffer.subarray(0, bytesRead);
    const head = bytes.subarray(0, HEAD_BYTES);
    if (isElf(head) || isZboot(head) || (head.length >= 0x206 && isBzImage(head))) return true;
    if (head.length >= 64 && isArm64Image(head)) return true;
    if (head[0] === 0x1f && head[1] === 0x8b) return isArm64Image(await inflatedHead(bytes));
    return false;
  } finally {
    await handle.close();
  }
}

/** The first 64 inflated bytes of a gzip start (fewer when it is shorter or damaged). */
function inflatedHead(gzip: Buffer): Promise<Buffer> {
  return new Promise((resolve) => {
    const gunzip = createGunzip();
    const chunks: Buffer[] = [];
    let have = 0;
    const done = (): void => {
      gunzip.removeAllListeners();
      gunzip.destroy();
      resolve(Buffer.concat(chunks).subarray(0, 64));
    };
    gunzip.on('data', (chunk: Buffer) => {
      chunks.push(chunk);
      have += chunk.length;
      if (have >= 64) done();
    });
    gunzip.on('error', done);
    gunzip.on('end', done);
    gunzip.end(gzip);
  });
}
