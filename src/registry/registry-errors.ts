import { checkShape, array, looseObject, optional, string } from '../oci/json-shape.ts';
import { KartError } from '../errors.ts';
import { isRetryableStatus } from './retry-policy.ts';

/**
 * Turns what a registry or the network said into KartErrors a person can act on. Codes are stable:
 *   NOT_FOUND (name, tag, manifest or blob unknown), UNAUTHORIZED, DENIED, TOO_MANY_REQUESTS,
 *   REGISTRY_ERROR (any other refusal), UNSUPPORTED (the registry disabled the operation),
 *   HOST_UNKNOWN, CONNECTION_REFUSED, CONNECTION_FAILED, TLS_FAILED, TRANSFER_STALLED.
 * Registry/network errors exit 3. Nothing secret goes in: URLs are printed without query strings
 * (upload locations may carry signed tokens) and request headers are never quoted.
 */

// distribution-spec error body; any other body (HTML, text/plain 429 pages) is tolerated.
const ErrorBodySchema = looseObject({
  errors: array(looseObject({ code: optional(string()), message: optional(string()) })),
});

export interface RegistryErrorBody {
  code: string | undefined;
  message: string | undefined;
}

export function parseErrorBody(text: string): RegistryErrorBody {
  try {
    const parsed = checkShape(ErrorBodySchema, JSON.parse(text));
    const first = parsed.ok ? parsed.value.errors[0] : undefined;
    return { code: first?.code, message: first?.message };
  } catch {
    return { code: undefined, message: undefined };
  }
}

/** A URL fit for a message: scheme, host and path; the query (possibly signed) is dropped. */
export function displayUrl(url: URL): string {
  return `${url.origin}${url.pathname}`;
}

export interface ResponseFailure {
  status: number;
  body: RegistryErrorBody;
  /** what kart was doing, e.g. `manifest 127.0.0.1:5000/acme/kernel:6.1` */
  what: string;
  host: string;
}

export function errorFromResponse(failure: ResponseFailure): KartError {
  const { status, body, what, host } = failure;
  const said = body.code ? ` (${body.code}${body.message ? `: ${body.message}` : ''})` : '';
  const details = { status, ...(body.code ? { registryCode: body.code } : {}) };
  if (status === 404) {
    return new KartError('NOT_FOUND', `${what}: not found${said}`, {
      exitCode: 3,
      hint: 'check the repository name and tag (kart tags REPO lists the tags)',
      details,
    });
  }
  if (status === 401) {
    return new KartError('UNAUTHORIZED', `${what}: the registry ${host} refused the credentials${said}`, {
      exitCode: 3,
      hint: `log in with "kart login ${host}" or check the credentials configured for it`,
      details,
    });
  }
  if (status === 403) {
    return new KartError('DENIED', `${what}: access denied by ${host}${said}`, {
      exitCode: 3,
      hint: 'the account lacks permission for this repository; ask its owner for pull/push rights',
      details,
    });
  }
  if (status === 429) {
    return new KartError('TOO_MANY_REQUESTS', `${what}: ${host} is rate limiting requests${said}`, {
      exitCode: 3,
      transient: true,
      hint: 'wait a while and retry, or log in: registries allow authenticated users more requests',
      details,
    });
  }
  if (status === 405 || (status === 400 && body.code === 'UNSUPPORTED') || body.code === 'UNSUPPORTED') {
    return new KartError('UNSUPPORTED', `${what}: ${host} does not support this operation${said}`, {
      exitCode: 3,
      hint: 'the registry has this operation disabled (e.g. deletes); ask its operator',
      details,
    });
  }
  if (status === 400 && (body.code === 'DIGEST_INVALID' || body.code === 'SIZE_INVALID')) {
    return new KartError(
      'DIGEST_MISMATCH',
      `${what}: the registry computed a different digest or size${said}`,
      {
        exitCode: 1,
        // kart checks what it sends against the digest; the registry disagreeing is a passing fault
        // (distribution 2.8 said so about 1 time in 100 to two processes publishing into one index),
        // so the transfer may start over.
        transient: true,
        hint: 'the content changed while it was being sent; nothing was stored',
        details,
      },
    );
  }
  return new KartError('REGISTRY_ERROR', `${what}: ${host} answered HTTP ${status}${said}`, {
    exitCode: 3,
    transient: isRetryableStatus(status),
    hint: status >= 500 ? 'the registry failed; retry later' : 'the registry refused the request',
    details,
  });
}

function codeOf(error: unknown): string | undefined {
  let current: unknown = error;
  for (let depth = 0; depth < 5 && current; depth++) {
    const code = (current as { code?: unknown }).code;
    if (typeof code === 'string') return code;
    current = (current as { cause?: unknown }).cause;
  }
  return undefined;
}

const TLS_CODE = /^(CERT_|ERR_TLS|ERR_SSL|DEPTH_ZERO|SELF_SIGNED|UNABLE_TO_|EPROTO|HOSTNAME_MISMATCH)/;

export function errorFromNetwork(error: unknown, url: URL, what: string): KartError {
  // Already decided (the operation's deadline passed): said as it is.
  if (error instanceof KartError) return error;
  const code = codeOf(error) ?? 'UNKNOWN';
  const host = url.host;
  const details = { cause: code };
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN' || code === 'EAI_NONAME') {
    return new KartError('HOST_UNKNOWN', `${what}: cannot resolve registry host "${url.hostname}"`, {
      exitCode: 3,
      hint: 'check the host name in the reference and your DNS/network settings',
      details,
    });
  }
  if (code === 'ECONNREFUSED') {
    return new KartError('CONNECTION_REFUSED', `${what}: connection to ${host} refused`, {
      exitCode: 3,
      hint: `nothing is listening at ${host}; check the port and that the registry is running`,
      details,
    });
  }
  if (TLS_CODE.test(code)) {
    return new KartError('TLS_FAILED', `${what}: TLS handshake with ${host} failed (${code})`, {
      exitCode: 3,
      hint: "pass --ca-file with the registry's CA, --insecure to skip verification, or --plain-http if it speaks HTTP",
      details,
    });
  }
  if (code === 'UND_ERR_BODY_TIMEOUT' || code === 'UND_ERR_HEADERS_TIMEOUT') {
    return new KartError('TRANSFER_STALLED', `${what}: ${host} stopped sending data`, {
      exitCode: 3,
      transient: true,
      hint: 'the connection stalled; retry, or check the network between you and the registry',
      details,
    });
  }
  return new KartError('CONNECTION_FAILED', `${what}: connection to ${host} failed (${code})`, {
    exitCode: 3,
    transient: true,
    hint: 'check the network and retry',
    details,
  });
}
