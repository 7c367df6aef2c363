import { KartError } from '../../src/errors.ts';

/**
 * The KartError an operation fails with. An operation that succeeds, or fails with anything but a
 * KartError, fails the test: kart promises that every failure it reports is a KartError.
 */
export async function kartErrorOf(run: Promise<unknown> | (() => unknown)): Promise<KartError> {
  try {
    await (typeof run === 'function' ? run() : run);
  } catch (error) {
    if (error instanceof KartError) return error;
    throw error;
  }
  throw new Error('expected a KartError, but the operation succeeded');
}
