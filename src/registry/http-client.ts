import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Readable } from 'node:stream';
import type { Dispatcher } from 'undici';
import { EnvHttpProxyAgent } from './undici-core.ts';
import type { IncomingHttpHeaders } from 'node:http';
import { KartError } from '../errors.ts';
import { readBounded } from '../oci/bounded-read.ts';
import { anonymous, type Authorizer } from './authorizer.ts';
import {
  DEFAULT_RETRY_POLICY,
  isRetryableNetworkError,
  isRetryableStatus,
  retryDelay,
  type RetryPolicy,
} from './retry-policy.ts';
import { displayUrl, errorFromNetwork, errorFromResponse, parseErrorBody } from './registry-errors.ts';
import { OperationDeadline, type DeadlineOptions } from './deadline.ts';
import { redactSecrets, secretsOf } from './redact.ts';
import { redirectTarget } from './http-redirect.ts';

/**
 * The HTTP layer every registry request goes through: auth (authorize before, challenge after a 401,
 * retry once), redirects (followed by hand so Authorization never leaves the registry's origin; a
 * 307/308 on a write only within that origin, with a body that can be sent again),
 * retries with backoff for replayable requests, proxies from HTTP(S)_PROXY/NO_PROXY, TLS options,
 * and one connection pool reused by all requests.
 *
 * Deadlines: connecting, the first byte of an answer and every silence within a body each have their
 * own limit; bodies read only to be dropped or to quote an error are bounded in bytes and time; and
 * everything the client does ends by one overall deadline (deadline.ts), retry waits included.
 */
export interface HttpClientOptions {
  authorizer?: Authorizer;
  /** Skip TLS certificate verification (--insecure). */
  insecure?: boolean;
  /** PEM file with extra CA certificates (--ca-file). */
  caFile?: string;
  retry?: Partial<RetryPolicy>;
  /** A transfer that receives nothing for this long fails with TRANSFER_STALLED (ms). Default 60 s. */
  stallTimeoutMs?: number;
  /** Connecting (TCP and TLS) may take this long (ms). Default 30 s. */
  connectTimeoutMs?: number;
  /** An answer's status line and headers must arrive this long after the request (ms). Default 30 s. */
  firstByteTimeoutMs?: number;
  /** A body read only to drop it or to quote its error may take this long (ms). Default 10 s. */
  discardTimeoutMs?: number;
  /** The overall deadline of everything this client does (--timeout, ms); see deadline.ts. */
  timeoutMs?: number;
  /** The default deadline's shape when timeoutMs is not given (tests shorten it). */
  deadline?: Omit<DeadlineOptions, 'timeoutMs'>;
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
  /** the bytes the answer should bring (a blob's size): they extend the default deadline */
  expectedBytes?: number;
}

export interface RegistryResponse {
  status: number;
  headers: IncomingHttpHeaders;
  body: Readable;
  /** the URL that answered (after redirects) */
  url: URL;
  /** the credential sent with the request, in the forms a registry might echo; redacted from errors */
  secrets?: readonly string[];
}

/** An error document worth quoting fits in a few KiB; the rest is never read. */
const MAX_ERROR_BODY = 8 * 1024;
/** A body read only to drop it: this much is read (so the connection can be reused), then it is cut. */
const MAX_DISCARD_BODY = 16 * 1024;
const DEFAULT_DISCARD_TIMEOUT_MS = 10_000;
/** How long a body that is only dropped or quoted may take, per body (see discard). */
const discardLimits = new WeakMap<Readable, number>();

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
  readonly #firstByteTimeoutMs: number;
  readonly #discardTimeoutMs: number;
  readonly #onRetry: ((event: RetryEvent) => void) | undefined;
  readonly deadline: OperationDeadline;

  constructor(options: HttpClientOptions = {}) {
    this.#authorizer = options.authorizer ?? anonymous;
    this.#retry = { ...DEFAULT_RETRY_POLICY, ...options.retry };
    this.#stallTimeoutMs = options.stallTimeoutMs ?? 60_000;
    this.#firstByteTimeoutMs = options.firstByteTimeoutMs ?? 30_000;
    this.#discardTimeoutMs = options.discardTimeoutMs ?? DEFAULT_DISCARD_TIMEOUT_MS;
    this.deadline = new OperationDeadline({
      ...options.deadline,
      ...(options.timeoutMs === undefined ? {} : { timeoutMs: options.timeoutMs }),
    });
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
   * retryable failure. The caller owns the response body and must consume or destroy it. This is the
   * loop (retries, the one challenge, redirects); `#exchange` is one round trip, `#challenged` the
   * answer to a 401 and `redirectTarget` (http-redirect.ts) where a redirect may lead.
   */
  async request(request: RegistryRequest): Promise<RegistryResponse> {
    const origin = request.url.origin;
    const replayable = request.body === undefined || Buffer.isBuffer(request.body);
    let url = request.url;
    let authorization = await this.#authorizer.authorize(url, request.scopes);
    let challenged = false;
    let attempt = 0;
    let timeouts = 0;
    let redirects = 0;
    if (request.expectedBytes !== undefined) this.deadline.announce(request.expectedBytes);
    for (;;) {
      // Authorization belongs to the registry: never sent to a redirect target on another origin.
      const sent = authorization !== undefined && url.origin === origin ? authorization : undefined;
      const exchanged = await this.#exchange(request, url, sent);
      if ('networkError' in exchanged) {
        const error = exchanged.networkError;
        // A registry that accepts the connection and stays silent gets one more chance, not five.
        const timedOut = isTimeout(error);
        if (
          replayable &&
          attempt < this.#retry.maxRetries &&
          isRetryableNetworkError(error) &&
          (!timedOut || timeouts++ < 1)
        ) {
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
      const answer = exchanged.answer;
      const status = answer.statusCode;
      if (status === 401 && !challenged && replayable && url.origin === origin) {
        authorization = await this.#challenged(request, url, answer, authorization);
        challenged = true;
        continue;
      }
      const reading = request.method === 'GET' || request.method === 'HEAD';
      if (isRedirect(status) && (reading || status === 307 || status === 308)) {
        const location = header(answer.headers, 'location');
        await discard(answer.body);
        url = redirectTarget(request, { url, origin, replayable, location, redirects: ++redirects });
        continue;
      }
      if (replayable && isRetryableStatus(status) && attempt < this.#retry.maxRetries) {
        const retryAfter = header(answer.headers, 'retry-after');
        await discard(answer.body);
        await this.#wait(url, attempt++, retryAfter, `HTTP ${status}`);
        continue;
      }
      return {
        status,
        headers: answer.headers,
        body: answer.body,
        url,
        ...(sent === undefined ? {} : { secrets: secretsOf(sent) }),
      };
    }
  }

  /**
   * One round trip within the operation's deadline: the answer, or the network failure for the
   * retry loop to judge. The deadline's expiry is thrown.
   */
  async #exchange(
    request: RegistryRequest,
    url: URL,
    authorization: string | undefined,
  ): Promise<{ answer: Dispatcher.ResponseData } | { networkError: unknown }> {
    const headers: Record<string, string> = { 'user-agent': 'kart/0.1', ...request.headers };
    if (authorization !== undefined) headers.authorization = authorization;
    const remaining = this.deadline.remainingMs();
    if (remaining <= 0) throw this.deadline.expired(request.what);
    // The deadline bounds the request and its body, however slowly the bytes come.
    const expiry = this.deadline.expired(request.what);
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(expiry), remaining);
    timer.unref();
    let answer: Dispatcher.ResponseData;
    try {
      answer = await this.#dispatcher.request({
        origin: url.origin,
        path: `${url.pathname}${url.search}`,
        method: request.method,
        headers,
        body: request.body ?? null,
        headersTimeout: this.#firstByteTimeoutMs,
        bodyTimeout: this.#stallTimeoutMs,
        signal: controller.signal,
      });
    } catch (error) {
      clearTimeout(timer);
      if (controller.signal.aborted) throw expiry;
      return { networkError: error };
    }
    answer.body.once('close', () => clearTimeout(timer));
    discardLimits.set(answer.body, this.#discardTimeoutMs);
    return { answer };
  }

  /** The authorization to send after a 401: what the authorizer makes of its challenge, or the 401's error. */
  async #challenged(
    request: RegistryRequest,
    url: URL,
    answer: Dispatcher.ResponseData,
    authorization: string | undefined,
  ): Promise<string> {
    const wwwAuthenticate = header(answer.headers, 'www-authenticate');
    await discard(answer.body);
    const next = wwwAuthenticate
      ? await this.#authorizer.challenge(url, wwwAuthenticate, request.scopes, authorization)
      : undefined;
    if (next === undefined) {
      throw errorFromResponse({
        status: answer.statusCode,
        body: { code: undefined, message: undefined },
        what: request.what,
        host: url.host,
      });
    }
    return next;
  }

  async #wait(url: URL, attempt: number, retryAfter: string | undefined, reason: string): Promise<void> {
    const delayMs = retryDelay(this.#retry, attempt, retryAfter);
    // A wait that would end past the deadline is not worth starting: fail now, with the reason.
    if (delayMs >= this.deadline.remainingMs()) {
      throw this.deadline.expired(
        `${displayUrl(url)}`,
        `${reason}, and ${retryAfter === undefined ? 'the next retry is due in' : 'the registry asks to wait'} ${Math.ceil(delayMs / 1000)} s: kart cannot finish`,
      );
    }
    this.#onRetry?.({ url: displayUrl(url), attempt: attempt + 1, delayMs, reason });
    await sleep(delayMs);
  }
}

/**
 * The connection pool for a registry's requests (and its token endpoint's): EnvHttpProxyAgent reads
 * HTTP_PROXY/HTTPS_PROXY/NO_PROXY and is a plain keep-alive Agent without them.
 */
export function createDispatcher(
  options: Pick<HttpClientOptions, 'insecure' | 'caFile' | 'connectTimeoutMs'> = {},
): Dispatcher {
  const tls = {
    rejectUnauthorized: options.insecure !== true,
    ...(options.caFile ? { ca: readCaFile(options.caFile) } : {}),
  };
  const connect = { ...tls, timeout: options.connectTimeoutMs ?? 30_000 };
  return new EnvHttpProxyAgent({ connect, requestTls: tls, proxyTls: tls });
}

function isTimeout(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'UND_ERR_CONNECT_TIMEOUT' || code === 'ETIMEDOUT';
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

/**
 * Drops a body we do not need. A few KiB are read so that the connection can be reused; a body that is
 * longer, or slower than the discard limit, is cut instead (the connection is lost, not the time).
 */
export async function discard(body: Readable): Promise<void> {
  await readPrefix(body, MAX_DISCARD_BODY);
}

/** Reads a small body (an error document): at most a few KiB, within the discard time limit. */
export async function readSmallText(body: Readable): Promise<string> {
  return (await readPrefix(body, MAX_ERROR_BODY)).toString('utf8');
}

/** Up to `limit` bytes of a body, within its discard time limit; the body is destroyed unless it ended. */
async function readPrefix(body: Readable, limit: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  const timer = setTimeout(() => body.destroy(), discardLimits.get(body) ?? DEFAULT_DISCARD_TIMEOUT_MS);
  timer.unref();
  try {
    for await (const chunk of body) {
      chunks.push(chunk as Buffer);
      size += (chunk as Buffer).length;
      if (size >= limit) break;
    }
  } catch {
    // an aborted or cut body is no loss here: keep what arrived
  } finally {
    clearTimeout(timer);
    if (!body.readableEnded) body.destroy();
  }
  return Buffer.concat(chunks).subarray(0, limit);
}

/** Reads a whole small document (a tag list page, a token answer), refusing more than `limit` bytes. */
export async function readBoundedText(body: Readable, limit: number, what: string): Promise<string> {
  let bytes: Buffer;
  try {
    bytes = await readBounded(
      body,
      limit,
      () =>
        new KartError('RESPONSE_TOO_LARGE', `${what}: the answer is over ${limit} bytes`, {
          exitCode: 3,
          hint: 'the registry sent far more than such a document should hold',
        }),
    );
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
  return bytes.toString('utf8');
}

/** Builds the KartError for an unexpected answer, reading the registry's error document. */
export async function failure(response: RegistryResponse, what: string): Promise<KartError> {
  // A registry may echo the request, Authorization header included: what it says is redacted first.
  const text = redactSecrets(await readSmallText(response.body), response.secrets);
  return errorFromResponse({
    status: response.status,
    body: parseErrorBody(text),
    what,
    host: response.url.host,
  });
}
