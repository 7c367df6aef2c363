import { backoffDelay } from '../oci/backoff.ts';

/**
 * When to retry a registry request and how long to wait first. Retried: 408, 429 and 5xx answers and
 * connection resets, only for requests whose body can be sent again. The wait is jittered exponential
 * backoff; a Retry-After header (seconds or an HTTP date) replaces it, capped so that a hostile or
 * confused registry cannot park kart for hours.
 */
export interface RetryPolicy {
  /** retries after the first attempt */
  maxRetries: number;
  /** first backoff step (ms), doubled each attempt */
  baseDelayMs: number;
  /** largest backoff step (ms) */
  maxDelayMs: number;
  /** largest wait a Retry-After header can impose (ms) */
  maxRetryAfterMs: number;
}

export const DEFAULT_RETRY_POLICY: RetryPolicy = {
  maxRetries: 5,
  baseDelayMs: 250,
  maxDelayMs: 8_000,
  maxRetryAfterMs: 60_000,
};

export function isRetryableStatus(status: number): boolean {
  return (
    status === 408 || status === 429 || (status >= 500 && status <= 599 && status !== 501 && status !== 505)
  );
}

/** Network failures worth another try: the connection dropped, not "nobody is there". */
const RETRYABLE_NETWORK_CODES = new Set([
  'ECONNRESET',
  'EPIPE',
  'ETIMEDOUT',
  'UND_ERR_SOCKET',
  'UND_ERR_CLOSED',
  'UND_ERR_HEADERS_TIMEOUT',
  'UND_ERR_CONNECT_TIMEOUT',
]);

export function isRetryableNetworkError(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' && RETRYABLE_NETWORK_CODES.has(code);
}

/**
 * Parses Retry-After: delay-seconds or an HTTP-date (RFC 9110 §10.2.3). Undefined when absent or
 * unparseable; a date in the past gives 0.
 */
export function parseRetryAfter(value: string | undefined, now: number = Date.now()): number | undefined {
  if (value === undefined) return undefined;
  const text = value.trim();
  if (/^\d+$/.test(text)) return Number(text) * 1000;
  const when = Date.parse(text);
  if (Number.isNaN(when)) return undefined;
  return Math.max(0, when - now);
}

/** The wait before retry number `attempt` (0-based), in ms. `random` is injectable for tests. */
export function retryDelay(
  policy: RetryPolicy,
  attempt: number,
  retryAfter: string | undefined,
  now: number = Date.now(),
  random: () => number = Math.random,
): number {
  const asked = parseRetryAfter(retryAfter, now);
  if (asked !== undefined) return Math.min(asked, policy.maxRetryAfterMs);
  // ±20% jitter so that many clients retrying the same registry do not stampede in lockstep.
  return backoffDelay(
    { firstMs: policy.baseDelayMs, maxMs: policy.maxDelayMs, jitter: 0.2 },
    attempt,
    random,
  );
}
