import { KartError } from '../errors.ts';
import type { RegistryRequest } from './http-client.ts';
import { displayUrl } from './registry-errors.ts';

const MAX_REDIRECTS = 5;

/**
 * Where a redirect may lead, or why it may not. A read follows any redirect (Authorization is dropped
 * off the registry's origin by the caller). A write is followed only where it keeps its method and
 * body (307/308; a 301-303 would turn it into a GET, and the caller does not follow those for writes),
 * only to the registry's own origin (a blob or credentials never go elsewhere), and only when the body
 * can be sent again. `redirects` counts this one.
 */
export function redirectTarget(
  request: Pick<RegistryRequest, 'method' | 'what'>,
  at: { url: URL; origin: string; replayable: boolean; location: string | undefined; redirects: number },
): URL {
  const { url, origin, replayable, location } = at;
  const reading = request.method === 'GET' || request.method === 'HEAD';
  if (!reading && location) {
    const next = new URL(location, url);
    if (next.origin !== origin || !replayable) {
      throw new KartError(
        'REDIRECT_REFUSED',
        `${request.what}: ${displayUrl(url)} redirected a ${request.method} to ${next.origin === origin ? 'itself after the body was sent' : `another origin (${next.origin})`}`,
        {
          exitCode: 3,
          details: { location: displayUrl(next), bodySent: next.origin === origin },
          hint:
            next.origin === origin
              ? 'kart cannot send a streamed body twice; the registry should redirect before it reads the body'
              : 'kart sends uploads (and credentials) only to the registry it was given',
        },
      );
    }
  }
  if (!location || at.redirects > MAX_REDIRECTS) {
    throw new KartError(
      'REDIRECT_INVALID',
      `${request.what}: ${displayUrl(url)} redirected ${location ? 'too many times' : 'without a Location'}`,
      {
        exitCode: 3,
        hint: 'the registry or a proxy in front of it is misconfigured',
      },
    );
  }
  return new URL(location, url);
}
