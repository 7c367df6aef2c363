import { setTimeout as delay } from 'node:timers/promises';
import { KartError } from '../errors.ts';
import { backoffDelay } from './backoff.ts';

/**
 * Runs a transfer that starts from its source (fetch, then store) and runs it again after a transient
 * failure (KartError.transient: a dropped connection, a stall, a rate limit): the stores retry single
 * requests themselves, but cannot replay what they streamed; a whole transfer can start over.
 * Permanent failures are thrown at once.
 */
export interface TransientRetryOptions {
  /** how many more times the transfer may start over. Default 2. */
  retries?: number;
  /** first wait before starting over (ms), doubled each time. Default 500. */
  delayMs?: number;
  /** stop retrying (e.g. a sibling transfer already failed the whole operation) */
  abandoned?: () => boolean;
}

export const DEFAULT_TRANSFER_RETRIES = 2;

export async function retryTransient<T>(
  transfer: () => Promise<T>,
  options: TransientRetryOptions = {},
): Promise<T> {
  const retries = options.retries ?? DEFAULT_TRANSFER_RETRIES;
  const delayMs = options.delayMs ?? 500;
  for (let attempt = 0; ; attempt++) {
    try {
      return await transfer();
    } catch (error) {
      const again = attempt < retries && options.abandoned?.() !== true;
      if (!again || !(error instanceof KartError) || !error.transient) throw error;
      await delay(backoffDelay({ firstMs: delayMs }, attempt));
    }
  }
}
