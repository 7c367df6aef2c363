/**
 * A view of a store (or any object) with some members replaced, for tests that need a store to
 * misbehave at an exact moment: a racing publisher, a failing upload. Every other member is the
 * original's, bound to it. A member overridden with `undefined` is hidden (say, a layout's atomic
 * `updateTag`, to make it behave as a registry).
 */
export function overriding<T extends object>(inner: T, overrides: Record<string, unknown>): T {
  return new Proxy(inner, {
    get(target, key, receiver) {
      if (typeof key === 'string' && key in overrides) return overrides[key];
      const value = Reflect.get(target, key, receiver) as unknown;
      return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
    },
  });
}
