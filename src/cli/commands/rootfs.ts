import type { Command } from 'commander';
import { action, printJson, printLine } from '../output.ts';
import { parseWholeNumber } from '../guest-options.ts';

interface RootfsBuildCliOptions {
  output: string;
  fs: string;
  dax?: boolean;
  verity?: boolean;
  salt?: string;
  freeSpace?: string;
  align?: string;
  initCheck?: boolean;
  json?: boolean;
}

/** `kart rootfs build DIR -o IMAGE`: Kata's guest image, built without root, loop devices or mounts. */
export function register(program: Command): void {
  const rootfs = program.command('rootfs').description('build Kata guest root filesystem images');
  rootfs
    .command('build')
    .description('build a guest image from a directory (MBR, optional DAX header and dm-verity hash tree)')
    .argument('<dir>', 'the root filesystem tree')
    .requiredOption('-o, --output <image>', 'the image file to write (replaced whole, only on success)')
    .option('--fs <ext4|erofs|xfs>', 'the filesystem', 'ext4')
    .option('--dax', "Kata's NVDIMM header: MBR #1, nd_pfn_sb, MBR #2 at 2 MiB, filesystem at 3 MiB")
    .option('--verity', 'a dm-verity hash tree in partition 2; prints kernel_verity_params')
    .option('--salt <hex|random|content>', 'the verity salt (default: derived from the filesystem)')
    .option('--free-space <MiB>', 'extra free space in an ext4 filesystem', '0')
    .option('--align <MiB>', "image size multiple (default 128 for ext4, Kata's; none for erofs)")
    .option('--no-init-check', 'build even when the tree has no sbin/init or usr/bin/kata-agent')
    .option('--json', 'print the result as JSON')
    .action(
      action(async (dir: string, options: RootfsBuildCliOptions) => {
        const { buildRootfsImage } = await import('../../guest/rootfs/index.ts');
        const { parseSaltChoice } = await import('../../guest/verity/index.ts');
        const { readSourceDateEpoch } = await import('../build-options.ts');
        const { KartError } = await import('../../errors.ts');
        if (options.fs !== 'ext4' && options.fs !== 'erofs' && options.fs !== 'xfs') {
          throw new KartError('ROOTFS_OPTION_INVALID', `--fs ${options.fs}: kart builds ext4, erofs or xfs`, {
            hint: "use --fs ext4 (Kata's default), --fs erofs or --fs xfs",
          });
        }
        const align = parseWholeNumber('--align', options.align);
        const built = await buildRootfsImage({
          sourceDir: dir,
          output: options.output,
          fsType: options.fs,
          dax: options.dax === true,
          verity: options.verity === true,
          freeSpaceMiB: parseWholeNumber('--free-space', options.freeSpace) ?? 0,
          initCheck: options.initCheck !== false,
          sourceDateEpoch: readSourceDateEpoch() ?? 0,
          ...(align === undefined ? {} : { alignMiB: align }),
          ...(options.salt === undefined ? {} : { salt: parseSaltChoice(options.salt) }),
        });
        if (options.json === true) {
          printJson(built);
          return 0;
        }
        printLine(
          `built ${built.image}: ${built.imageBytes / (1 << 20)} MiB ${built.fsType}${built.layout.dax ? ', DAX header' : ''}, UUID ${built.uuid}`,
        );
        printLine(
          `  filesystem  bytes ${built.layout.data.offset}..${built.layout.data.offset + built.layout.data.bytes}`,
        );
        if (built.layout.hash !== undefined) {
          printLine(
            `  hash tree   bytes ${built.layout.hash.offset}..${built.layout.hash.offset + built.layout.hash.bytes}`,
          );
        }
        if (built.kernelVerityParams !== undefined)
          printLine(`kernel_verity_params: ${built.kernelVerityParams}`);
        for (const [disk, line] of Object.entries(built.kernelCommandLines ?? {}))
          printLine(`kernel line (${disk}): ${line}`);
        return 0;
      }),
    );
}
