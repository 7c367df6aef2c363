import { verityNotKernelinit, verityParamsInvalid } from './boot-errors.ts';
import type { VerityParams } from '../verity/verity-params.ts';

/**
 * Kata's `kernel_verity_params` knob (TOML key, and the annotation
 * io.katacontainers.config.hypervisor.kernel_verity_params): what its shims need to build dm-mod.create.
 */
export interface KernelVerityParams {
  rootHash: string;
  salt: string;
  dataBlocks: number;
  dataBlockSize: number;
  hashBlockSize: number;
}

const SECTOR = 512;
const U64_MAX = (1n << 64n) - 1n;

function positive(fields: Map<string, string>, key: string): number {
  const text = fields.get(key);
  if (text === undefined) throw verityParamsInvalid(key, 'missing');
  if (!/^[0-9]+$/.test(text)) throw verityParamsInvalid(key, `"${text}" is not a decimal number`);
  const value = BigInt(text);
  if (value > U64_MAX) throw verityParamsInvalid(key, `${text} does not fit in 64 bits`);
  if (value === 0n) throw verityParamsInvalid(key, 'must not be zero');
  if (value > BigInt(Number.MAX_SAFE_INTEGER))
    throw verityParamsInvalid(key, `${text} is larger than kart handles`);
  return Number(value);
}

function required(fields: Map<string, string>, key: string): string {
  const value = fields.get(key);
  if (value === undefined || value === '') throw verityParamsInvalid(key, 'missing or empty');
  return value;
}

/**
 * Parses the knob with the rules of Kata's two parsers (Go ParseKernelVerityParams, Rust
 * parse_kernel_verity_params): empty means verity is off (undefined); fields split on `,` and trimmed,
 * empty ones skipped, each split on its first `=` (none: an error), later duplicates win, unknown keys
 * ignored; root_hash and salt non-empty (not checked as hex), the three numbers non-zero u64, block
 * sizes multiples of 512.
 */
export function parseKernelVerityParams(text: string): KernelVerityParams | undefined {
  if (text.trim() === '') return undefined;
  const fields = new Map<string, string>();
  for (const raw of text.split(',')) {
    const field = raw.trim();
    if (field === '') continue;
    const eq = field.indexOf('=');
    if (eq < 0) throw verityParamsInvalid(field, 'invalid kernel_verity_params entry (no "=")');
    fields.set(field.slice(0, eq).trim(), field.slice(eq + 1).trim());
  }
  const params = {
    rootHash: required(fields, 'root_hash'),
    salt: required(fields, 'salt'),
    dataBlocks: positive(fields, 'data_blocks'),
    dataBlockSize: positive(fields, 'data_block_size'),
    hashBlockSize: positive(fields, 'hash_block_size'),
  };
  for (const [key, value] of [
    ['data_block_size', params.dataBlockSize],
    ['hash_block_size', params.hashBlockSize],
  ] as const) {
    if (value % SECTOR !== 0) throw verityParamsInvalid(key, `${value} is not a multiple of ${SECTOR}`);
  }
  return params;
}

/** The one line Kata's image builder writes to root_hash_<variant>.txt (without its trailing LF). */
export function formatKernelVerityParams(params: KernelVerityParams): string {
  return [
    `root_hash=${params.rootHash}`,
    `salt=${params.salt}`,
    `data_blocks=${params.dataBlocks}`,
    `data_block_size=${params.dataBlockSize}`,
    `hash_block_size=${params.hashBlockSize}`,
  ].join(',');
}

/** The knob for a tree kart made; refused when Kata's fixed kernel line could not open that tree. */
export function kernelVerityParamsOf(tree: VerityParams): KernelVerityParams {
  if (tree.hashAlgorithm !== 'sha256') throw verityNotKernelinit(`hash ${tree.hashAlgorithm}, not sha256`);
  if (tree.hashStartBlock !== 0)
    throw verityNotKernelinit('the tree follows a superblock (hash_start_block 1)');
  return {
    rootHash: tree.rootHash,
    salt: tree.salt,
    dataBlocks: tree.dataBlocks,
    dataBlockSize: tree.dataBlockSize,
    hashBlockSize: tree.hashBlockSize,
  };
}

/** The knob's line for a tree, or undefined when Kata's kernel line could not open it. */
export function kernelVerityParamsLine(tree: VerityParams): string | undefined {
  if (tree.hashAlgorithm !== 'sha256' || tree.hashStartBlock !== 0) return undefined;
  return formatKernelVerityParams(kernelVerityParamsOf(tree));
}
