import { isLoopbackRegistry } from '../oci/reference.ts';

/**
 * Where a registry host is reached: its base URL. Loopback hosts (localhost, 127.0.0.0/8, [::1])
 * default to plain HTTP, as docker and skopeo do for local registries; everything else is HTTPS
 * unless the user asks for --plain-http.
 */
export interface EndpointOptions {
  plainHttp?: boolean;
}

export function registryBaseUrl(host: string, options: EndpointOptions = {}): URL {
  const scheme = options.plainHttp || isLoopbackRegistry(host) ? 'http' : 'https';
  return new URL(`${scheme}://${host}/`);
}
