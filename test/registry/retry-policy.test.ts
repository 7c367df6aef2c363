import { describe, expect, it } from 'vitest';
import {
  DEFAULT_RETRY_POLICY,
  isRetryableStatus,
  parseRetryAfter,
  retryDelay,
} from '../../src/registry/retry-policy.ts';

const now = Date.parse('2026-01-01T00:00:00Z');

describe('retry policy', () => {
  it('reads Retry-After as seconds or an HTTP date, capped', () => {
    expect(parseRetryAfter('3', now)).toBe(3000);
    expect(parseRetryAfter('Thu, 01 Jan 2026 00:00:07 GMT', now)).toBe(7000);
    expect(parseRetryAfter('Wed, 31 Dec 2025 23:00:00 GMT', now)).toBe(0);
    expect(parseRetryAfter('soon', now)).toBeUndefined();
    expect(retryDelay(DEFAULT_RETRY_POLICY, 0, '86400', now)).toBe(60_000);
    expect(retryDelay(DEFAULT_RETRY_POLICY, 0, 'Thu, 01 Jan 2026 00:00:07 GMT', now)).toBe(7000);
  });

  it('backs off exponentially with ±20% jitter up to the cap', () => {
    expect(retryDelay(DEFAULT_RETRY_POLICY, 0, undefined, now, () => 0)).toBe(200);
    expect(retryDelay(DEFAULT_RETRY_POLICY, 0, undefined, now, () => 1)).toBe(300);
    expect(retryDelay(DEFAULT_RETRY_POLICY, 2, undefined, now, () => 0.5)).toBe(1000);
    expect(retryDelay(DEFAULT_RETRY_POLICY, 20, undefined, now, () => 0.5)).toBe(8000);
  });

  it('retries 408, 429 and 5xx, not other answers', () => {
    expect([408, 429, 500, 502, 503, 504].every(isRetryableStatus)).toBe(true);
    expect([200, 400, 401, 404, 416, 501].some(isRetryableStatus)).toBe(false);
  });
});
