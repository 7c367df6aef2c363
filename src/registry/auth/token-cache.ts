/**
 * Bearer tokens kept per registry origin and scope set, with expiry, and one in-flight request per
 * key: concurrent requests needing the same token wait for the same fetch instead of each asking.
 */
export const MIN_TOKEN_LIFETIME_SECONDS = 60;
/** Renew this long before the server's expiry, so a token never dies in flight. */
export const RENEW_EARLY_MS = 5_000;

interface Entry {
  token: string;
  expiresAt: number;
}

export function tokenCacheKey(origin: string, scopes: readonly string[]): string {
  return `${origin} ${normaliseScopes(scopes).join(' ')}`;
}

/** Sorted, deduplicated; actions of the same resource merged (`pull` + `push` → `pull,push`). */
export function normaliseScopes(scopes: readonly string[]): string[] {
  const byResource = new Map<string, Set<string>>();
  for (const scope of scopes.flatMap((s) => s.split(' ')).filter((s) => s !== '')) {
    const colon = scope.lastIndexOf(':');
    const resource = colon < 0 ? scope : scope.slice(0, colon);
    const actions = colon < 0 ? [] : scope.slice(colon + 1).split(',');
    const set = byResource.get(resource) ?? new Set<string>();
    for (const action of actions) if (action !== '') set.add(action);
    byResource.set(resource, set);
  }
  return [...byResource.entries()]
    .map(([resource, actions]) =>
      actions.size === 0 ? resource : `${resource}:${[...actions].sort().join(',')}`,
    )
    .sort();
}

export class TokenCache {
  readonly #entries = new Map<string, Entry>();
  readonly #inFlight = new Map<string, Promise<string>>();
  readonly #now: () => number;

  constructor(now: () => number = Date.now) {
    this.#now = now;
  }

  get(key: string): string | undefined {
    const entry = this.#entries.get(key);
    if (entry === undefined) return undefined;
    if (this.#now() >= entry.expiresAt) {
      this.#entries.delete(key);
      return undefined;
    }
    return entry.token;
  }

  delete(key: string): void {
    this.#entries.delete(key);
  }

  /** The cached token, or the result of `fetch` (shared by every concurrent caller for `key`). */
  obtain(
    key: string,
    fetch: () => Promise<{ token: string; expiresInSeconds: number | undefined }>,
  ): Promise<string> {
    const cached = this.get(key);
    if (cached !== undefined) return Promise.resolve(cached);
    const running = this.#inFlight.get(key);
    if (running !== undefined) return running;
    const started = fetch()
      .then(({ token, expiresInSeconds }) => {
        const lifetime = Math.max(expiresInSeconds ?? MIN_TOKEN_LIFETIME_SECONDS, MIN_TOKEN_LIFETIME_SECONDS);
        this.#entries.set(key, { token, expiresAt: this.#now() + lifetime * 1000 - RENEW_EARLY_MS });
        return token;
      })
      .finally(() => this.#inFlight.delete(key));
    this.#inFlight.set(key, started);
    return started;
  }
}
