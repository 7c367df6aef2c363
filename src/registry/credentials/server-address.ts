/**
 * Registry hosts versus the keys credentials are filed under. docker files Docker Hub under
 * `https://index.docker.io/v1/` and older docker versions wrote other keys with a scheme and path
 * (`https://registry.example.com/v2/`); lookups compare the normalised host.
 */
export const DOCKER_HUB_SERVER_ADDRESS = 'https://index.docker.io/v1/';
const DOCKER_HUB_HOSTS = new Set(['docker.io', 'index.docker.io', 'registry-1.docker.io']);

/** `https://Reg.Example:5000/v2/` → `reg.example:5000`; Docker Hub names → `docker.io`. */
export function normaliseRegistryHost(keyOrHost: string): string {
  let host = keyOrHost.trim().replace(/^[a-z][a-z0-9+.-]*:\/\//i, '');
  const slash = host.indexOf('/');
  if (slash >= 0) host = host.slice(0, slash);
  host = host.toLowerCase();
  return DOCKER_HUB_HOSTS.has(host) ? 'docker.io' : host;
}

/** The key docker writes (and helpers receive) for a registry host. */
export function serverAddressFor(registry: string): string {
  const host = normaliseRegistryHost(registry);
  return host === 'docker.io' ? DOCKER_HUB_SERVER_ADDRESS : host;
}
