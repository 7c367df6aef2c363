import type { Command } from 'commander';
import { action, printJson, printLine } from '../output.ts';
import { parseWholeNumber } from '../guest-options.ts';
import type { VerityParams } from '../../guest/verity/index.ts';

interface CmdlineCliOptions {
  disk: string;
  fstype: string;
  json?: boolean;
}

interface VerityCliOptions {
  salt?: string;
  saltFromContent?: boolean;
  superblock?: boolean;
  uuid?: string;
  dataBlocks?: string;
  dataBlockSize?: string;
  hashBlockSize?: string;
  hash?: string;
  dataOffset?: string;
  hashOffset?: string;
  json?: boolean;
}

function withGeometryOptions(command: Command): Command {
  return command
    .option('--no-superblock', 'no 512-byte cryptsetup superblock: the tree starts at the hash offset (Kata)')
    .option('--data-blocks <n>', 'data blocks covered (default: every whole block of DATA)')
    .option('--data-block-size <bytes>', 'data block size (default 4096)')
    .option('--hash-block-size <bytes>', 'hash block size (default 4096)')
    .option('--hash <algorithm>', 'hash algorithm (default sha256)')
    .option('--data-offset <bytes>', 'where the data starts in DATA (default 0)')
    .option('--hash-offset <bytes>', 'where the hash device starts in HASH (default 0)')
    .option('--json', 'print the parameters as JSON');
}

function geometry(options: VerityCliOptions) {
  const pick = (flag: string, text: string | undefined) => parseWholeNumber(flag, text);
  const out = {
    superblock: options.superblock !== false,
    dataBlocks: pick('--data-blocks', options.dataBlocks),
    dataBlockSize: pick('--data-block-size', options.dataBlockSize),
    hashBlockSize: pick('--hash-block-size', options.hashBlockSize),
    dataOffset: pick('--data-offset', options.dataOffset),
    hashOffset: pick('--hash-offset', options.hashOffset),
    hashAlgorithm: options.hash,
  };
  return Object.fromEntries(Object.entries(out).filter(([, value]) => value !== undefined));
}

/** The fields veritysetup prints, in its order, so scripts reading either find the same labels. */
function printParams(params: VerityParams): void {
  if (params.uuid !== undefined) printLine(`UUID:             ${params.uuid}`);
  printLine(`Hash type:        ${params.hashType}`);
  printLine(`Data blocks:      ${params.dataBlocks}`);
  printLine(`Data block size:  ${params.dataBlockSize}`);
  printLine(`Hash blocks:      ${params.hashBlocks}`);
  printLine(`Hash block size:  ${params.hashBlockSize}`);
  printLine(`Hash algorithm:   ${params.hashAlgorithm}`);
  printLine(`Salt:             ${params.salt}`);
  printLine(`Root hash:        ${params.rootHash}`);
}

/** `kart verity format|verify`: dm-verity hash trees computed in TypeScript, equal to veritysetup's. */
export function register(program: Command): void {
  const verity = program
    .command('verity')
    .description('make and check dm-verity hash trees (no root needed)');

  withGeometryOptions(
    verity
      .command('format')
      .description('compute the hash tree of DATA into HASH and print the root hash')
      .argument('<data>', 'the data file (a filesystem image)')
      .argument('<hash>', 'the hash file (created whole, or written in place if it exists)')
      .option(
        '--salt <hex|random|content>',
        'the salt: hex bytes, 32 random bytes, or derived from the data (default)',
      )
      .option('--salt-from-content', 'derive the salt from the data (the default; same data, same root hash)')
      .option('--uuid <uuid>', "the superblock's UUID (default: derived from the root hash)"),
  ).action(
    action(async (data: string, hash: string, options: VerityCliOptions) => {
      const { formatVerity, parseSaltChoice } = await import('../../guest/verity/index.ts');
      const salt = options.saltFromContent === true ? 'content' : parseSaltChoice(options.salt ?? 'content');
      const params = await formatVerity({
        dataPath: data,
        hashPath: hash,
        salt,
        ...geometry(options),
        ...(options.uuid === undefined ? {} : { uuid: options.uuid }),
      });
      const { kernelVerityParamsLine } = await import('../../guest/boot/index.ts');
      const knob = kernelVerityParamsLine(params);
      if (options.json === true) printJson({ ...params, kernelVerityParams: knob ?? null });
      else {
        printParams(params);
        if (knob !== undefined) printLine(`kernel_verity_params: ${knob}`);
      }
      return 0;
    }),
  );

  withGeometryOptions(
    verity
      .command('verify')
      .description('check DATA against the hash tree in HASH and ROOT-HASH (exit 1 on any difference)')
      .argument('<data>', 'the data file')
      .argument('<hash>', 'the hash file')
      .argument('<root-hash>', 'the root hash format printed')
      .option('--salt <hex>', 'the salt (needed with --no-superblock)'),
  ).action(
    action(async (data: string, hash: string, rootHash: string, options: VerityCliOptions) => {
      const { verifyVerity } = await import('../../guest/verity/index.ts');
      const params = await verifyVerity({
        dataPath: data,
        hashPath: hash,
        rootHash,
        ...geometry(options),
        ...(options.salt === undefined ? {} : { salt: options.salt }),
      });
      if (options.json === true) printJson({ verified: true, ...params });
      else printLine(`verified: ${params.dataBlocks} data blocks match root hash ${params.rootHash}`);
      return 0;
    }),
  );

  verity
    .command('cmdline')
    .description("print the kernel parameters Kata's shim builds from a kernel_verity_params value")
    .argument('<params>', 'root_hash=…,salt=…,data_blocks=…,data_block_size=…,hash_block_size=…')
    .option('--disk <virtio-blk|nvdimm>', 'how the guest sees the image', 'virtio-blk')
    .option('--fstype <ext4|xfs|erofs>', 'the root filesystem', 'ext4')
    .option('--json', 'print the parameters as JSON')
    .action(
      action(async (text: string, options: CmdlineCliOptions) => {
        const { parseKernelVerityParams, kernelCommandLine, parseGuestDisk, parseRootFsType } =
          await import('../../guest/boot/index.ts');
        const { KartError } = await import('../../errors.ts');
        const params = parseKernelVerityParams(text);
        if (params === undefined) {
          throw new KartError('KERNEL_VERITY_PARAMS_EMPTY', 'kernel_verity_params is empty: verity is off', {
            hint: 'pass the line kart verity format or kart rootfs build --verity printed',
          });
        }
        const line = kernelCommandLine(params, parseGuestDisk(options.disk), parseRootFsType(options.fstype));
        if (options.json === true) printJson({ kernelVerityParams: params, ...line });
        else printLine(line.line);
        return 0;
      }),
    );
}
