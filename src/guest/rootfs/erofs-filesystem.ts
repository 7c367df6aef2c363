import { runTool } from './run-tool.ts';

/**
 * EROFS with Kata's options (`-zlz4hc -Enoinline_data`, 4 KiB blocks) into its own file: mkfs.erofs
 * has no offset option, so the caller copies it into partition 1. `-T` fixes every file's time and
 * the build time; a non-root build makes every file root's (the tree can only hold its own files).
 */
export async function makeErofs(options: {
  file: string;
  sourceDir: string;
  uuid: string;
  time: number;
  allRoot: boolean;
}): Promise<void> {
  await runTool(
    'mkfs.erofs',
    [
      '--quiet',
      '-zlz4hc',
      '-Enoinline_data',
      `-T${options.time}`,
      `-U${options.uuid}`,
      ...(options.allRoot ? ['--all-root'] : []),
      options.file,
      options.sourceDir,
    ],
    { pkg: 'erofs-utils' },
  );
}

/** Kata's EROFS image size in MiB (image_builder.sh create_erofs_rootfs_image): no 128 MiB rounding. */
export function kataErofsImageMiB(fsBytes: number, verity: boolean): number {
  const mib = Math.floor((fsBytes + (1 << 20)) / (1 << 20)) + 1 + 1;
  return verity ? Math.floor((mib * 100) / 99) + 1 : mib;
}
