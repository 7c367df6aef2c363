import { runTool } from './run-tool.ts';
import { rootfsToolFailed } from './rootfs-errors.ts';

export interface Ext4Options {
  image: string;
  /** byte offset of partition 1 */
  offset: number;
  blocks: number;
  sourceDir: string;
  uuid: string;
  hashSeed: string;
  /** what E2FSPROGS_FAKE_TIME pins the filesystem's own times to (must be non-zero: 0 means "now") */
  fsTime: number;
}

/** mke2fs failed because the filesystem is too small for the tree: the caller may try a bigger image. */
export function isOutOfSpace(error: unknown): boolean {
  const message = error instanceof Error ? error.message : '';
  return /Could not allocate (block|inode)|No free space|Could not allocate/.test(message);
}

function fakeTimeEnv(fsTime: number): NodeJS.ProcessEnv {
  return { ...process.env, E2FSPROGS_FAKE_TIME: String(fsTime) };
}

/**
 * ext4 with Kata's options (4 KiB blocks, 3 % reserved; features from the host's mke2fs.conf as in
 * Kata's builder), made and filled by `mke2fs -d` straight into partition 1 of the image file: no
 * root, no loop device, no mount. UUID, directory hash seed and the filesystem's times are fixed.
 */
export async function makeExt4(options: Ext4Options): Promise<void> {
  await runTool(
    'mke2fs',
    [
      '-q',
      '-F',
      '-t',
      'ext4',
      '-b',
      '4096',
      '-m',
      '3',
      '-d',
      options.sourceDir,
      '-U',
      options.uuid,
      '-E',
      `offset=${options.offset},hash_seed=${options.hashSeed},root_owner=0:0`,
      options.image,
      String(options.blocks),
    ],
    { pkg: 'e2fsprogs', env: fakeTimeEnv(options.fsTime) },
  );
}

/**
 * Runs a debugfs script (`sif`, `write`) on the filesystem at `offset`. debugfs exits 0 even when a
 * command fails, so anything on its stderr but its version banner is a failure.
 */
export async function runDebugfsScript(
  image: string,
  offset: number,
  script: string,
  fsTime: number,
): Promise<void> {
  const run = await runTool('debugfs', ['-w', '-f', script, `${image}?offset=${offset}`], {
    pkg: 'e2fsprogs',
    env: fakeTimeEnv(fsTime),
  });
  const complaints = run.stderr.split('\n').filter((line) => line.trim() !== '' && !/^debugfs \d/.test(line));
  if (complaints.length > 0)
    throw rootfsToolFailed('debugfs', 'a fix-up command failed', complaints.join('\n'));
}
