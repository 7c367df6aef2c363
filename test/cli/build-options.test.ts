import { describe, expect, it } from 'vitest';
import { KartError } from '../../src/errors.ts';
import { packOptionsOf, parseKeyValues, readSourceDateEpoch } from '../../src/cli/build-options.ts';

function refusal(run: () => unknown): { code: string; message: string } {
  try {
    run();
  } catch (error) {
    if (error instanceof KartError) return { code: error.code, message: error.message };
    throw error;
  }
  throw new Error('expected a KartError');
}

describe('build flags shared by pack and publish', () => {
  it('turns the given flags into pack options, leaving out what was not given', () => {
    expect(
      packOptionsOf({ kernel: 'bzImage', annotation: ['a=b', 'c=d=e'], compress: 'gzip', version: '6.1.2' }),
    ).toEqual({ kernel: 'bzImage', version: '6.1.2', annotations: { a: 'b', c: 'd=e' }, compress: 'gzip' });
  });

  it('refuses an unknown --compress and a pair without a name, with OPTION_INVALID', () => {
    expect(refusal(() => packOptionsOf({ annotation: [], compress: 'zstd' }))).toEqual({
      code: 'OPTION_INVALID',
      message: 'unknown --compress "zstd"',
    });
    expect(refusal(() => parseKeyValues(['=x'], '--annotation'))).toEqual({
      code: 'OPTION_INVALID',
      message: '--annotation "=x" is not name=value',
    });
  });

  it('reads SOURCE_DATE_EPOCH as whole seconds and refuses anything else', () => {
    expect(readSourceDateEpoch({ SOURCE_DATE_EPOCH: '1700000000' })).toBe(1700000000);
    expect(readSourceDateEpoch({})).toBeUndefined();
    expect(refusal(() => readSourceDateEpoch({ SOURCE_DATE_EPOCH: '17.5' }))).toEqual({
      code: 'SOURCE_DATE_EPOCH_INVALID',
      message: 'SOURCE_DATE_EPOCH "17.5" is not a Unix time in seconds',
    });
  });
});
