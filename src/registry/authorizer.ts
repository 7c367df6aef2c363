/**
 * The seam between the registry transport (src/registry/http*, repository store) and auth
 * (src/registry/auth/*). The transport never sees credentials or tokens except as the opaque
 * Authorization header value it is handed, and it never logs that value.
 *
 * A scope is the distribution token scope string, e.g. `repository:acme/zone-kernel:pull,push`.
 */
export interface Authorizer {
  /**
   * The Authorization header to send with a request to `url` that needs `scopes`, from what is
   * already known (a cached, unexpired token for that host and scope set, or Basic credentials
   * for a host that challenged with Basic before); undefined to go anonymous.
   */
  authorize(url: URL, scopes: readonly string[]): Promise<string | undefined>;
  /**
   * Called after a 401 carrying `wwwAuthenticate`. Completes the challenge (Basic, or the Bearer
   * token flow with the credentials configured for the host) and returns the header to retry with,
   * or undefined when nothing more can be done (the transport then reports UNAUTHORIZED).
   * Concurrent calls for the same host and scopes share one token request. `refused` is the
   * Authorization the 401 answered (undefined: the request went anonymous): only that is discarded,
   * so requests that all went out before the first token arrived do not each throw the new one away.
   */
  challenge(
    url: URL,
    wwwAuthenticate: string,
    scopes: readonly string[],
    refused?: string,
  ): Promise<string | undefined>;
}

/** Goes anonymous everywhere; the default when no credentials are configured. */
export const anonymous: Authorizer = {
  authorize: async () => undefined,
  challenge: async () => undefined,
};
