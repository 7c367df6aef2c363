import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  formatKernelVerityParams,
  kernelCommandLine,
  kernelVerityParamsOf,
  parseDmVerityCreate,
  parseKernelVerityParams,
} from '../../src/guest/boot/index.ts';
import { formatVerity } from '../../src/guest/verity/index.ts';
import { kartErrorOf } from '../support/kart-error.ts';
import { runKartSync } from '../support/kart-cli.ts';

const work = mkdtempSync(join(tmpdir(), 'kart-boot-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

// Kata's own unit test (src/runtime/virtcontainers/hypervisor_test.go) and the research's measured image.
const KATA_TEST = 'root_hash=abc,salt=def,data_blocks=1,data_block_size=4096,hash_block_size=4096';
const KATA_TEST_DM = 'dm-verity,,,ro,0 8 verity 1 /dev/vda1 /dev/vda2 4096 4096 1 0 sha256 abc def';
const ROOT = '86a78d457922a074602b9cfeb48b11adbbadeca8e28d861e5da99267fdd4e49b';
const SALT = 'df6ab5ed8694848ce0fa2f8924ae8338665c8ba1e32763e34182a5318f81d30e';
const MEASURED = `root_hash=${ROOT},salt=${SALT},data_blocks=31488,data_block_size=4096,hash_block_size=4096`;

describe('the kernel command line', () => {
  it("equals Kata's unit-test vector and round-trips through the parser", () => {
    const params = parseKernelVerityParams(KATA_TEST)!;
    const line = kernelCommandLine(params);
    expect(line.dmCreate).toBe(KATA_TEST_DM);
    expect(line.params[0]).toBe(`dm-mod.create="${KATA_TEST_DM}"`);
    expect(parseDmVerityCreate(line.params[0]!.slice('dm-mod.create='.length))).toEqual({
      ...params,
      dataDevice: '/dev/vda1',
      hashDevice: '/dev/vda2',
    });
    expect(formatKernelVerityParams(params)).toBe(KATA_TEST);
  });

  it('virtio-blk ext4 for the measured 128 MiB image, and NVDIMM xfs', () => {
    const params = parseKernelVerityParams(MEASURED)!;
    expect(kernelCommandLine(params, 'virtio-blk', 'ext4').line).toBe(
      `dm-mod.create="dm-verity,,,ro,0 251904 verity 1 /dev/vda1 /dev/vda2 4096 4096 31488 0 sha256 ${ROOT} ${SALT}" ` +
        'root=/dev/dm-0 rootflags=data=ordered,errors=remount-ro ro rootfstype=ext4',
    );
    const pmem = kernelCommandLine(params, 'nvdimm', 'xfs');
    expect(pmem.line).toBe(
      `dm-mod.create="dm-verity,,,ro,0 251904 verity 1 /dev/pmem0p1 /dev/pmem0p2 4096 4096 31488 0 sha256 ${ROOT} ${SALT}" ` +
        'root=/dev/dm-0 rootflags=ro rootfstype=xfs',
    );
    expect(parseDmVerityCreate(pmem.dmCreate)).toMatchObject({ ...params, dataDevice: '/dev/pmem0p1' });
    expect(kernelCommandLine(params, 'nvdimm', 'erofs').params.slice(2)).toEqual([
      'rootflags=ro',
      'rootfstype=erofs',
    ]);
  });

  it('refuses what the kernel or Kata cannot take', async () => {
    const huge = parseKernelVerityParams(
      `root_hash=${'a'.repeat(4100)},salt=00,data_blocks=1,data_block_size=4096,hash_block_size=4096`,
    )!;
    expect((await kartErrorOf(() => kernelCommandLine(huge))).code).toBe('DM_CREATE_INVALID');
    expect(
      (
        await kartErrorOf(() =>
          parseDmVerityCreate('dm-verity,,,ro,0 9 verity 1 a b 4096 4096 1 0 sha256 r s'),
        )
      ).message,
    ).toContain('9 sectors');
    expect(
      (await kartErrorOf(() => parseDmVerityCreate('"dm-linear,,,ro,0 8 linear /dev/vda1 0"'))).code,
    ).toBe('DM_CREATE_INVALID');
  });
});

describe("parseKernelVerityParams follows Kata's rules", () => {
  it('empty means off; fields trimmed, empties skipped, later duplicates win, unknown keys ignored', () => {
    expect(parseKernelVerityParams('')).toBeUndefined();
    expect(parseKernelVerityParams('  \t ')).toBeUndefined();
    expect(
      parseKernelVerityParams(
        ` mode=kernelinit, root_hash=old ,,salt= s ,data_blocks=2,data_block_size=512,hash_block_size=1024,root_hash=new,`,
      ),
    ).toEqual({ rootHash: 'new', salt: 's', dataBlocks: 2, dataBlockSize: 512, hashBlockSize: 1024 });
    // The value is split on its first "=": the rest belongs to the value.
    expect(
      parseKernelVerityParams('root_hash=a=b,salt=-,data_blocks=1,data_block_size=4096,hash_block_size=4096')
        ?.rootHash,
    ).toBe('a=b');
  });

  const cases: Array<[string, string, string]> = [
    [
      'root_hash=a,salt,data_blocks=1,data_block_size=4096,hash_block_size=4096',
      'salt',
      'invalid kernel_verity_params entry',
    ],
    ['salt=b,data_blocks=1,data_block_size=4096,hash_block_size=4096', 'root_hash', 'missing'],
    ['root_hash=a,salt=,data_blocks=1,data_block_size=4096,hash_block_size=4096', 'salt', 'missing or empty'],
    [
      'root_hash=a,salt=b,data_blocks=0,data_block_size=4096,hash_block_size=4096',
      'data_blocks',
      'must not be zero',
    ],
    [
      'root_hash=a,salt=b,data_blocks=x1,data_block_size=4096,hash_block_size=4096',
      'data_blocks',
      'not a decimal',
    ],
    [
      'root_hash=a,salt=b,data_blocks=-1,data_block_size=4096,hash_block_size=4096',
      'data_blocks',
      'not a decimal',
    ],
    [
      'root_hash=a,salt=b,data_blocks=18446744073709551616,data_block_size=4096,hash_block_size=4096',
      'data_blocks',
      '64 bits',
    ],
    [
      'root_hash=a,salt=b,data_blocks=1,data_block_size=4000,hash_block_size=4096',
      'data_block_size',
      'multiple of 512',
    ],
    ['root_hash=a,salt=b,data_blocks=1,data_block_size=4096', 'hash_block_size', 'missing'],
  ];
  it.each(cases)('%s → error naming %s', async (text, field, why) => {
    const error = await kartErrorOf(() => parseKernelVerityParams(text));
    expect(error.code).toBe('KERNEL_VERITY_PARAMS_INVALID');
    expect(error.exitCode).toBe(2);
    expect(error.details).toEqual({ field });
    expect(error.message).toContain(why);
  });
});

describe('from a tree kart made to a line veritysetup accepts', () => {
  it('format --no-superblock → kernel_verity_params → veritysetup verify with exactly those values', async () => {
    const data = join(work, 'data.img');
    writeFileSync(data, Buffer.alloc(200 * 4096, 0x5a));
    const hash = join(work, 'hash.img');
    const tree = await formatVerity({ dataPath: data, hashPath: hash, superblock: false });
    const knob = parseKernelVerityParams(formatKernelVerityParams(kernelVerityParamsOf(tree)))!;
    const run = spawnSync('veritysetup', [
      'verify',
      '--no-superblock',
      `--salt=${knob.salt}`,
      `--data-blocks=${knob.dataBlocks}`,
      `--data-block-size=${knob.dataBlockSize}`,
      `--hash-block-size=${knob.hashBlockSize}`,
      data,
      hash,
      knob.rootHash,
    ]);
    expect(run.status).toBe(0);
    const withSb = await formatVerity({ dataPath: data, hashPath: join(work, 'sb.img') });
    expect((await kartErrorOf(() => kernelVerityParamsOf(withSb))).code).toBe('VERITY_NOT_KERNELINIT');

    const cli = runKartSync(['verity', 'format', '--no-superblock', data, join(work, 'cli.img')]);
    expect(cli.stdout).toContain(`kernel_verity_params: ${formatKernelVerityParams(knob)}`);
  });

  it('kart verity cmdline prints the line; bad input is exit 2 naming the field', () => {
    const run = runKartSync(['verity', 'cmdline', KATA_TEST, '--disk', 'nvdimm', '--fstype', 'erofs']);
    expect(run.code).toBe(0);
    expect(run.stdout).toBe(
      'dm-mod.create="dm-verity,,,ro,0 8 verity 1 /dev/pmem0p1 /dev/pmem0p2 4096 4096 1 0 sha256 abc def" root=/dev/dm-0 rootflags=ro rootfstype=erofs\n',
    );
    const json = runKartSync(['verity', 'cmdline', KATA_TEST, '--json']);
    expect(JSON.parse(json.stdout)).toMatchObject({
      dmCreate: KATA_TEST_DM,
      kernelVerityParams: { dataBlocks: 1 },
    });
    const bad = runKartSync(['verity', 'cmdline', 'root_hash=a', '--json']);
    expect(bad.code).toBe(2);
    expect(JSON.parse(bad.stdout)).toMatchObject({
      error: { code: 'KERNEL_VERITY_PARAMS_INVALID', details: { field: 'salt' } },
    });
    expect(runKartSync(['verity', 'cmdline', KATA_TEST, '--disk', 'scsi']).code).toBe(2);
  });
});
