import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Readable } from 'node:stream';
import type { Dispatcher } from 'undici';
import { EnvHttpProxyAgent } from './undici-core.ts';
import type { IncomingHttpHeaders } from 'node:http';
import { KartError } from '../errors.ts';
import { anonymous, type Authorizer } from './authorizer.ts';
import {
  DEFAULT_RETRY_POLICY,
  isRetryableNetworkError,
  isRetryableStatus,
  retryDelay,
  type RetryPolicy,
} from './retry-policy.ts';
import { displayUrl, errorFromNetwork, errorFromResponse, parseErrorBody } from './registry-errors.ts';

/**
 * The HTTP layer every registry request goes through: auth (authorize before, challenge after a 401,
 * retry once), redirects (followed by hand so Authorization never leaves the registry's origin; a
 * 307/308 on a write only within that origin, with a body that can be sent again),
 * retries with backoff for replayable requests, proxies from HTTP(S)_PROXY/NO_PROXY, TLS options,
 * a stall timeout, and one connection pool reused by all requests.
 */
export interface HttpClientOptions {
  authorizer?: Authorizer;
  /** Skip TLS certificate verification (--insecure). */
  insecure?: boolean;
  /** PEM file with extra CA certificates (--ca-file). */
  caFile?: string;
  retry?: Partial<RetryPolicy>;
  /** A transfer that receives nothing for this long fails with TRANSFER_STALLED (ms). */
  stallTimeoutMs?: number;
  /** Called before each retry; the CLI uses it for --verbose, tests to see the waits. */
  onRetry?: (event: RetryEvent) => void;
  /** Use this dispatcher instead of building one (tests, embedding). */
  dispatcher?: Dispatcher;
}

export interface RetryEvent {
  url: string;
  attempt: number;
  delayMs: number;
  reason: string;
}

export type HttpMethod = 'GET' | 'HEAD' | 'PUT' | 'POST' | 'PATCH' | 'DELETE';

export interface RegistryRequest {
  method: HttpMethod;
  url: URL;
  /** token scopes this request needs, e.g. `repository:acme/kernel:pull` */
  scopes: readonly string[];
  headers?: Record<string, string>;
  /** A Buffer can be sent again (retried); a stream cannot. */
  body?: Buffer | Readable;
  /** what this is, for error messages */
  what: string;
}

export interface RegistryResponse {
  status: number;
  headers: IncomingHttpHeaders;
  body: Readable;
  /** the URL that answered (after redirects) */
  url: URL;
}

const MAX_REDIRECTS = 5;
const MAX_ERROR_BODY = 64 * 1024;

export function header(headers: IncomingHttpHeaders, name: string): string | undefined {
  const value = headers[name.toLowerCase()];
  return Array.isArray(value) ? value[0] : value;
}

export class RegistryHttpClient {
  readonly #dispatcher: Dispatcher;
  readonly #ownsDispatcher: boolean;
  readonly #authorizer: Authorizer;
  readonly #retry: RetryPolicy;
  readonly #stallTimeoutMs: number;
  readonly #onRetry: ((event: RetryEvent) => void) | undefined;

  constructor(options: HttpClientOptions = {}) {
    this.#authorizer = options.authorizer ?? anonymous;
    this.#retry = { ...DEFAULT_RETRY_POLICY, ...options.retry };
    this.#stallTimeoutMs = options.stallTimeoutMs ?? 60_000;
    this.#onRetry = options.onRetry;
    this.#dispatcher = options.dispatcher ?? createDispatcher(options);
    this.#ownsDispatcher = options.dispatcher === undefined;
  }

  get authorizer(): Authorizer {
    return this.#authorizer;
  }

  async close(): Promise<void> {
    if (this.#ownsDispatcher) await this.#dispatcher.close();
  }

  /**
   * Sends a request and returns the first answer that is not a redirect, a handled 401 or a
   * retryable failure. The caller owns the response body and must consume or destroy it.
   */
  async request(request: RegistryRequest): Promise<RegistryResponse> {
    const origin = request.url.origin;
    const replayable = request.body === undefined || Buffer.isBuffer(request.body);
    let url = request.url;
    let authorization = await this.#authorizer.authorize(url, request.scopes);
    let challenged = false;
    let attempt = 0;
    let redirects = 0;
    for (;;) {
      const headers: Record<string, string> = { 'user-agent': 'kart/0.1', ...request.headers };
      // Authorization belongs to the registry: never sent to a redirect target on another origin.
      if (authorization !== undefined && url.origin === origin) headers.authorization = authorization;
      let answer: Dispatcher.ResponseData;
      try {
        answer = await this.#dispatcher.request({
          origin: url.origin,
          path: `${url.pathname}${url.search}`,
          method: request.method,
          headers,
          body: request.body ?? null,
          headersTimeout: this.#stallTimeoutMs,
          bodyTimeout: this.#stallTimeoutMs,
        });
      } catch (error) {
        if (replayable && attempt < this.#retry.maxRetries && isRetryableNetworkError(error)) {
          await this.#wait(
            url,
            attempt++,
            undefined,
            `connection failed (${(error as { code?: string }).code})`,
          );
          continue;
        }
        throw errorFromNetwork(error, url, request.what);
      }
      const status = answer.statusCode;
      if (status === 401 && !challenged && replayable && url.origin === origin) {
        const wwwAuthenticate = header(answer.headers, 'www-authenticate');
        await discard(answer.body);
        const next = wwwAuthenticate
          ? await this.#authorizer.challenge(url, wwwAuthenticate, request.scopes, authorization)
          : undefined;
        if (next === undefined) {
          throw errorFromResponse({
            status,
            body: { code: undefined, message: undefined },
            what: request.what,
            host: url.host,
          });
        }
        authorization = next;
        challenged = true;
        continue;
      }
      const reading = request.method === 'GET' || request.method === 'HEAD';
      // A write is followed only where it keeps its method and body (307/308; a 301-303 would turn
      // it into a GET), only to the registry's own origin (a blob or credentials never go elsewhere),
      // and only when the body can be sent again.
      if (isRedirect(status) && (reading || status === 307 || status === 308)) {
        const location = header(answer.headers, 'location');
        await discard(answer.body);
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
        if (!location || ++redirects > MAX_REDIRECTS) {
          throw new KartError(
            'REDIRECT_INVALID',
            `${request.what}: ${displayUrl(url)} redirected ${location ? 'too many times' : 'without a Location'}`,
            {
              exitCode: 3,
              hint: 'the registry or a proxy in front of it is misconfigured',
            },
          );
        }
        url = new URL(location, url);
        continue;
      }
      if (replayable && isRetryableStatus(status) && attempt < this.#retry.maxRetries) {
        const retryAfter = header(answer.headers, 'retry-after');
        await discard(answer.body);
        await this.#wait(url, attempt++, retryAfter, `HTTP ${status}`);
        continue;
      }
      return { status, headers: answer.headers, body: answer.body, url };
    }
  }

  async #wait(url: URL, attempt: number, retryAfter: string | undefined, reason: string): Promise<void> {
    const delayMs = retryDelay(this.#retry, attempt, retryAfter);
    this.#onRetry?.({ url: displayUrl(url), attempt: attempt + 1, delayMs, reason });
    await sleep(delayMs);
  }
}

/**
 * The connection pool for a registry's requests (and its token endpoint's): EnvHttpProxyAgent reads
 * HTTP_PROXY/HTTPS_PROXY/NO_PROXY and is a plain keep-alive Agent without them.
 */
export function createDispatcher(options: Pick<HttpClientOptions, 'insecure' | 'caFile'> = {}): Dispatcher {
  const tls = {
    rejectUnauthorized: options.insecure !== true,
    ...(options.caFile ? { ca: readCaFile(options.caFile) } : {}),
  };
  return new EnvHttpProxyAgent({ connect: tls, requestTls: tls, proxyTls: tls });
}

function isRedirect(status: number): boolean {
  return status === 301 || status === 302 || status === 303 || status === 307 || status === 308;
}

function readCaFile(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (error) {
    throw new KartError(
      'CA_FILE_UNREADABLE',
      `--ca-file ${path}: cannot read it (${(error as { code?: string }).code ?? 'error'})`,
      {
        hint: "pass a readable PEM file holding the registry's CA certificate",
      },
    );
  }
}

/** Reads and drops a body we do not need, so the connection can be reused. */
export async function discard(body: Readable): Promise<void> {
  try {
    for await (const _chunk of body) {
      // dropped
    }
  } catch {
    // an aborted body is no loss here
  }
}

/** Reads a small body (an error document), at most 64 KiB. */
export async function readSmallText(body: Readable): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  try {
    for await (const chunk of body) {
      size += (chunk as Buffer).length;
      if (size > MAX_ERROR_BODY) break;
      chunks.push(chunk as Buffer);
    }
  } catch {
    // keep what arrived
  }
  body.destroy();
  return Buffer.concat(chunks).toString('utf8');
}

/** Reads a whole small document (a tag list page, a token answer), refusing more than `limit` bytes. */
export async function readBoundedText(body: Readable, limit: number, what: string): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  try {
    for await (const chunk of body) {
      size += (chunk as Buffer).length;
      if (size > limit) {
        body.destroy();
        throw new KartError('RESPONSE_TOO_LARGE', `${what}: the answer is over ${limit} bytes`, {
          exitCode: 3,
          hint: 'the registry sent far more than such a document should hold',
        });
      }
      chunks.push(chunk as Buffer);
    }
  } catch (error) {
    // A connection cut mid-body: a KartError like every other network failure, not a raw ECONNRESET.
    if (error instanceof KartError) throw error;
    throw new KartError('CONNECTION_FAILED', `${what}: the connection broke while reading the answer`, {
      exitCode: 3,
      transient: true,
      hint: 'the network or the registry dropped the connection; retry',
      cause: error,
    });
  }
  return Buffer.concat(chunks).toString('utf8');
}

/** Builds the KartError for an unexpected answer, reading the registry's error document. */
export async function failure(response: RegistryResponse, what: string): Promise<KartError> {
  const text = await readSmallText(response.body);
  return errorFromResponse({
    status: response.status,
    body: parseErrorBody(text),
    what,
    host: response.url.host,
  });
}
