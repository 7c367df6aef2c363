/**
 * The one backoff schedule: the wait before retry number `attempt` (0-based) is `firstMs` doubled per
 * attempt, capped at `maxMs`, with ±`jitter` of it at random so that many clients waiting on the same
 * thing (a registry, a lock, a tag) do not retry in lock step. Used by the HTTP retries, transfers
 * started over, the layout lock and tag-index merges. `random` is injectable for tests.
 */
export interface Backoff {
  firstMs: number;
  maxMs?: number;
  /** fraction of the step added or taken at random; 0 for a fixed schedule */
  jitter?: number;
}

export function backoffDelay(backoff: Backoff, attempt: number, random: () => number = Math.random): number {
  const step = Math.min(backoff.maxMs ?? Infinity, backoff.firstMs * 2 ** attempt);
  const jitter = backoff.jitter ?? 0;
  return Math.round(step * (1 - jitter + 2 * jitter * random()));
}
