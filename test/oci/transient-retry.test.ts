import { describe, expect, it } from 'vitest';
import { KartError } from '../../src/errors.ts';
import { retryTransient } from '../../src/oci/transient-retry.ts';

const transient = () => new KartError('CONNECTION_FAILED', 'dropped', { exitCode: 3, transient: true });

describe('retryTransient', () => {
  it('starts a transfer over after transient failures, up to its budget', async () => {
    let calls = 0;
    const value = await retryTransient(
      async () => {
        if (++calls < 3) throw transient();
        return 'done';
      },
      { retries: 2, delayMs: 1 },
    );
    expect([value, calls]).toEqual(['done', 3]);

    calls = 0;
    const exhausted = await retryTransient(
      async () => {
        calls++;
        throw transient();
      },
      { retries: 2, delayMs: 1 },
    ).catch((error: unknown) => error);
    expect([(exhausted as KartError).code, calls]).toEqual(['CONNECTION_FAILED', 3]);
  });

  it('throws permanent failures and plain errors at once, and stops when abandoned', async () => {
    for (const error of [new KartError('DENIED', 'no', { exitCode: 3 }), new Error('bug')]) {
      let calls = 0;
      await expect(
        retryTransient(
          async () => {
            calls++;
            throw error;
          },
          { delayMs: 1 },
        ),
      ).rejects.toBe(error);
      expect(calls).toBe(1);
    }
    let calls = 0;
    await expect(
      retryTransient(
        async () => {
          calls++;
          throw transient();
        },
        { delayMs: 1, abandoned: () => true },
      ),
    ).rejects.toMatchObject({ code: 'CONNECTION_FAILED' });
    expect(calls).toBe(1);
  });
});
