/**
 * The KartErrorCode union and the README's code table are generated from the source; this fails when
 * either is stale (run `node scripts/error-codes.ts`). isKartError narrows by code.
 */
import { describe, expect, it } from 'vitest';
import { errorCodeFiles } from '../scripts/error-codes.ts';
import { KartError, isKartError } from '../src/index.ts';

describe('error codes', () => {
  it('src/error-codes.ts and the README table match the codes the sources raise', async () => {
    for (const file of await errorCodeFiles())
      expect(file.current, `${file.path} is stale`).toBe(file.wanted);
  });

  it('isKartError(e, code) is true only for a KartError with one of the codes', () => {
    const error = new KartError('NOT_FOUND', 'gone');
    expect(isKartError(error)).toBe(true);
    expect(isKartError(error, 'NOT_FOUND')).toBe(true);
    expect(isKartError(error, 'ABORTED', 'NOT_FOUND')).toBe(true);
    expect(isKartError(error, 'ABORTED')).toBe(false);
    expect(isKartError(new Error('NOT_FOUND'), 'NOT_FOUND')).toBe(false);
  });
});
