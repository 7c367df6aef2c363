/**
 * A fact about a stream's bytes that its producer attaches to the stream itself (under a symbol, so
 * it travels with the object through any API that hands the stream on): the digest it verifies, the
 * file it reads. `carry` puts the source's fact on a wrapper; only for a wrapper that passes the bytes
 * on unchanged and ends when, and only when, the source ends (a pass-through, a meter, a branch of a
 * split): the source's error instead of an end reaches it too.
 */
export interface StreamMark<T> {
  mark<S extends object>(stream: S, value: T): S;
  of(stream: object): T | undefined;
  carry<S extends object>(source: object, next: S): S;
}

export function streamMark<T>(name: string): StreamMark<T> {
  const key = Symbol(name);
  const mark = <S extends object>(stream: S, value: T): S => {
    Object.defineProperty(stream, key, { value });
    return stream;
  };
  const of = (stream: object): T | undefined => (stream as Record<symbol, T | undefined>)[key];
  return {
    mark,
    of,
    carry: (source, next) => {
      const value = of(source);
      return value === undefined ? next : mark(next, value);
    },
  };
}
