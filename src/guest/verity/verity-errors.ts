import { KartError } from '../../errors.ts';

/** Input that cannot describe a dm-verity device (exit 2): names the parameter and the rule it broke. */
export function verityInvalid(what: string, hint: string): KartError {
  return new KartError('VERITY_INVALID', what, { hint });
}

export function veritySaltInvalid(value: string, why: string): KartError {
  return new KartError('VERITY_SALT_INVALID', `salt "${value}" ${why}`, {
    hint: 'give an even number of hex digits (at most 256 bytes), "random", or "content"',
  });
}

export function verityDataTooShort(path: string, offset: number, needed: number, got: number): KartError {
  return new KartError(
    'VERITY_DATA_TOO_SHORT',
    `${path}: needs ${needed} bytes from offset ${offset} but has ${got}`,
    { hint: 'check --data-blocks and the data offset against the file size' },
  );
}

export function verityHashTooShort(path: string, needed: number, got: number): KartError {
  return new KartError(
    'VERITY_HASH_TOO_SHORT',
    `${path}: the hash tree needs ${needed} bytes but the file has ${got}`,
    { hint: 'format the hash device first (kart verity format), or check --hash-offset', exitCode: 1 },
  );
}

export function veritySuperblockInvalid(path: string, offset: number, why: string): KartError {
  return new KartError(
    'VERITY_SUPERBLOCK_INVALID',
    `${path}: no usable dm-verity superblock at ${offset}: ${why}`,
    {
      hint: 'pass --no-superblock with --salt, or point --hash-offset at the superblock',
      exitCode: 1,
    },
  );
}

export function verityIo(path: string, cause: NodeJS.ErrnoException): KartError {
  return new KartError('VERITY_IO', `${path}: ${cause.code ?? 'I/O error'}: ${cause.message}`, {
    hint: 'check the path and its permissions',
    cause,
  });
}

/** A hash block or the root disagrees with the data: the device would fail to read there (exit 1). */
export function verityMismatch(message: string, details: Record<string, unknown>): KartError {
  return new KartError('VERITY_MISMATCH', message, {
    hint: 'the data changed since the hash tree was made, or the root hash/salt are not this tree’s',
    exitCode: 1,
    details,
  });
}
