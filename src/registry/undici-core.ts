/**
 * The part of undici kart uses: the proxy-aware agent and the request API, without the rest.
 * `import 'undici'` loads all of undici (fetch, WebSocket, EventSource, mocks, caches: ~110 files),
 * about 105 ms at every start of every registry command on the bench machine; these files load in
 * about 50 ms. undici's index puts the request API on Dispatcher.prototype; that one line is repeated
 * here, the same way. The package version is pinned exactly in package.json, since these are its
 * file paths, and the whole registry test suite runs through this module.
 */
import { createRequire } from 'node:module';
import type * as Undici from 'undici';

const require = createRequire(import.meta.url);

const DispatcherBase = require('undici/lib/dispatcher/dispatcher.js') as { prototype: object };
if (!('request' in DispatcherBase.prototype)) {
  Object.assign(DispatcherBase.prototype, require('undici/lib/api/index.js') as object);
}

export const EnvHttpProxyAgent =
  require('undici/lib/dispatcher/env-http-proxy-agent.js') as typeof Undici.EnvHttpProxyAgent;

const { getGlobalDispatcher } = require('undici/lib/global.js') as {
  getGlobalDispatcher(): Undici.Dispatcher;
};

export type RequestUrlOptions = Omit<Undici.Dispatcher.RequestOptions, 'origin' | 'path'> & {
  /** default: undici's global dispatcher, as undici's own `request(url, …)` */
  dispatcher?: Undici.Dispatcher;
};

/** undici's `request(url, options)`: one request to a full URL through a dispatcher. */
export function requestUrl(url: URL, options: RequestUrlOptions): Promise<Undici.Dispatcher.ResponseData> {
  const { dispatcher = getGlobalDispatcher(), ...rest } = options;
  return dispatcher.request({ ...rest, origin: url.origin, path: `${url.pathname}${url.search}` });
}
