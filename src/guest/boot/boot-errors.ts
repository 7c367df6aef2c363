import { KartError } from '../../errors.ts';

/** The knob's value breaks one of Kata's rules; `field` is the key (or entry) at fault. */
export function verityParamsInvalid(field: string, why: string): KartError {
  return new KartError('KERNEL_VERITY_PARAMS_INVALID', `kernel_verity_params: ${field}: ${why}`, {
    hint: 'the form is root_hash=HEX,salt=HEX,data_blocks=N,data_block_size=N,hash_block_size=N',
    details: { field },
  });
}

export function dmCreateInvalid(why: string): KartError {
  return new KartError('DM_CREATE_INVALID', `dm-mod.create: ${why}`, {
    hint: 'expected "dm-verity,,,ro,0 SECTORS verity 1 DEV HASHDEV DBS HBS BLOCKS 0 sha256 ROOT SALT"',
  });
}

/** A tree Kata's kernel line cannot describe (it hard-codes sha256 and hash_start_block 0). */
export function verityNotKernelinit(why: string): KartError {
  return new KartError(
    'VERITY_NOT_KERNELINIT',
    `this dm-verity tree cannot be booted by Kata's kernel line: ${why}`,
    {
      hint: "format it with --no-superblock and sha256 (what Kata's image builder does)",
    },
  );
}
