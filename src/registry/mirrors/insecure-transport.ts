import type { Dispatcher } from 'undici';
import { isLoopbackRegistry } from '../../oci/reference.ts';

/**
 * How an endpoint marked `insecure = true` in registries.conf is spoken to. In containers/image that
 * setting means both "do not verify its certificate" and "plain HTTP is allowed": the registry is
 * pinged at /v2/ over HTTPS (unverified) first, and over HTTP when that fails. kart decides the same
 * way, once per endpoint and pull, for that host alone: other endpoints of the same pull (the
 * upstream, other mirrors) keep their own transport.
 *
 * Returns 'http' only when HTTPS did not answer as a registry and HTTP did; otherwise 'https', so a
 * host that answers neither fails on its first real request with the usual typed error.
 */
export type Scheme = 'https' | 'http';

export interface SchemeProbeOptions {
  /** the endpoint's own dispatcher (TLS verification off for it) */
  dispatcher: Dispatcher;
  /** each ping may take this long (ms) */
  timeoutMs: number;
}

export async function insecureEndpointScheme(
  host: string,
  insecure: boolean,
  options: SchemeProbeOptions,
): Promise<Scheme> {
  // Verified endpoints never fall back; loopback hosts are plain HTTP in kart already.
  if (!insecure || isLoopbackRegistry(host)) return 'https';
  if (await answersAsRegistry('https', host, options)) return 'https';
  return (await answersAsRegistry('http', host, options)) ? 'http' : 'https';
}

/** GET /v2/ answered 200 or 401 (a registry asking for credentials), as containers' ping wants. */
async function answersAsRegistry(
  scheme: Scheme,
  host: string,
  options: SchemeProbeOptions,
): Promise<boolean> {
  try {
    const answer = await options.dispatcher.request({
      origin: `${scheme}://${host}`,
      path: '/v2/',
      method: 'GET',
      signal: AbortSignal.timeout(options.timeoutMs),
    });
    await answer.body.dump();
    return answer.statusCode === 200 || answer.statusCode === 401;
  } catch {
    return false;
  }
}
