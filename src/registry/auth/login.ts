import type { Dispatcher } from 'undici';
import { requestUrl } from '../undici-core.ts';
import { KartError } from '../../errors.ts';
import { isLoopbackRegistry } from '../../oci/reference.ts';
import { staticCredentials, type CredentialLocation } from '../credentials/credential.ts';
import { createCredentialStore } from '../credentials/credential-store.ts';
import { normaliseRegistryHost } from '../credentials/server-address.ts';
import { DOCKER_HUB_REGISTRY } from '../../oci/reference.ts';
import { createAuthorizer } from './create-authorizer.ts';
import { createDispatcher } from '../http-client.ts';
import { errorFromNetwork } from '../registry-errors.ts';

/**
 * `kart login` / `kart logout` as library calls: verify a user name and password against the
 * registry's `GET /v2/` (the distribution spec's support check) before saving them where docker,
 * skopeo and podman read them; erase them again.
 */
export interface RegistryConnectionOptions {
  /** http instead of https; the default for loopback registries. */
  plainHttp?: boolean;
  /** https without certificate verification. */
  insecure?: boolean;
  /** PEM file with extra CA certificates. */
  caFile?: string;
  /** Default: the transport's own (HTTP(S)_PROXY and NO_PROXY honoured, TLS options applied). */
  dispatcher?: Dispatcher;
  log?: (line: string) => void;
}

export interface LoginOptions extends RegistryConnectionOptions {
  registry: string;
  username: string;
  password: string;
  /** Write this file instead of docker's config.json. */
  authFile?: string;
  env?: NodeJS.ProcessEnv;
}

export interface LoginResult {
  /** host[:port] as given (Docker Hub as docker.io). */
  registry: string;
  savedTo: CredentialLocation;
  /** False when the registry let anonymous users in, so the password could not be checked. */
  verified: boolean;
}

const HOST =
  /^(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*|\[[0-9a-fA-F:.]+\])(?::[0-9]{1,5})?$/;

/** Accepts `host[:port]`, also with a scheme or path as docker does (`https://host/v1/`). */
export function parseRegistryHost(input: string): string {
  const host = input
    .trim()
    .replace(/^https?:\/\//i, '')
    .replace(/\/.*$/, '');
  if (!HOST.test(host) || (host.startsWith('[') && !URL.canParse(`http://${host}`))) {
    throw new KartError('REGISTRY_INVALID', `"${input}" is not a registry host`, {
      exitCode: 2,
      hint: 'name the registry as HOST[:PORT], e.g. ghcr.io or localhost:5000',
    });
  }
  if (normaliseRegistryHost(host) === 'docker.io') return 'docker.io';
  // An IPv6 literal is saved as URLs write it ([::ffff:127.0.0.1] → [::ffff:7f00:1]), as lookups ask.
  return host.startsWith('[') ? new URL(`http://${host}`).host : host.toLowerCase();
}

function registryBaseUrl(host: string, options: RegistryConnectionOptions): URL {
  const target = host === 'docker.io' ? DOCKER_HUB_REGISTRY : host;
  const plain = options.plainHttp === true || isLoopbackRegistry(target);
  return new URL(`${plain ? 'http' : 'https'}://${target}/v2/`);
}

function loginFailed(host: string, username: string, detail: string): KartError {
  return new KartError(
    'LOGIN_FAILED',
    `registry ${host} refused the credentials of user "${username}" (${detail})`,
    {
      exitCode: 3,
      hint: 'check the user name and password (or token); nothing was saved',
      details: { registry: host },
    },
  );
}

async function getV2(url: URL, authorization: string | undefined, dispatcher: Dispatcher, host: string) {
  try {
    const answer = await requestUrl(url, {
      method: 'GET',
      headers: authorization === undefined ? {} : { authorization },
      dispatcher,
      headersTimeout: 30_000,
      bodyTimeout: 30_000,
    });
    await answer.body.dump();
    return answer;
  } catch (error) {
    const network = errorFromNetwork(error, url, `registry ${host}`);
    if (network.code === 'TLS_FAILED') throw network;
    const code = (error as { code?: string }).code;
    throw new KartError(
      'REGISTRY_UNREACHABLE',
      `registry ${host} cannot be reached at ${url.origin}${code ? ` (${code})` : ''}`,
      {
        exitCode: 3,
        hint: 'check the host name and port, the network, and --plain-http/--insecure for registries without TLS',
        cause: error,
      },
    );
  }
}

/** Checks credentials against `GET /v2/`; true when verified, false when the registry needs none. */
export async function verifyCredentials(
  registry: string,
  username: string,
  password: string,
  options: RegistryConnectionOptions = {},
): Promise<boolean> {
  const host = parseRegistryHost(registry);
  const url = registryBaseUrl(host, options);
  // The same pool every registry request uses: proxy-aware, with --insecure and --ca-file applied.
  const dispatcher = options.dispatcher ?? createDispatcher(options);
  try {
    const first = await getV2(url, undefined, dispatcher, host);
    if (first.statusCode === 200) return false;
    const challenge = first.headers['www-authenticate'];
    if (first.statusCode !== 401 || challenge === undefined) {
      throw new KartError(
        'REGISTRY_PROTOCOL',
        `registry ${host} answered GET /v2/ with HTTP ${first.statusCode}`,
        {
          exitCode: 3,
          hint: 'check that this is an OCI registry (the distribution API answers /v2/ with 200 or 401)',
        },
      );
    }
    const authorizer = createAuthorizer({
      credentials: staticCredentials({ [url.host]: { username, password } }),
      dispatcher,
      ...(options.log ? { log: options.log } : {}),
    });
    let authorization: string | undefined;
    try {
      authorization = await authorizer.challenge(
        url,
        Array.isArray(challenge) ? challenge.join(', ') : challenge,
        [],
      );
    } catch (error) {
      if (error instanceof KartError && error.code === 'AUTH_DENIED') {
        throw loginFailed(host, username, 'its token service answered 401');
      }
      throw error;
    }
    if (authorization === undefined) {
      throw new KartError(
        'LOGIN_UNSUPPORTED',
        `registry ${host} asks for an authentication scheme kart does not speak`,
        {
          exitCode: 3,
          hint: 'kart speaks Basic and Bearer token authentication',
        },
      );
    }
    const second = await getV2(url, authorization, dispatcher, host);
    if (second.statusCode === 200) return true;
    if (second.statusCode === 401 || second.statusCode === 403) {
      throw loginFailed(host, username, `GET /v2/ answered ${second.statusCode}`);
    }
    throw new KartError(
      'REGISTRY_PROTOCOL',
      `registry ${host} answered GET /v2/ with HTTP ${second.statusCode}`,
      {
        exitCode: 3,
        hint: 'retry later; the registry may be failing',
      },
    );
  } finally {
    if (options.dispatcher === undefined) await dispatcher.close();
  }
}

export async function login(options: LoginOptions): Promise<LoginResult> {
  const host = parseRegistryHost(options.registry);
  if (options.username === '' || options.password === '') {
    throw new KartError('LOGIN_INPUT_INVALID', 'a user name and a non-empty password are needed', {
      exitCode: 2,
      hint: 'pass -u USER and the password on stdin with --password-stdin',
    });
  }
  const verified = await verifyCredentials(host, options.username, options.password, options);
  const store = createCredentialStore({
    ...(options.authFile === undefined ? {} : { authFile: options.authFile }),
    ...(options.env === undefined ? {} : { env: options.env }),
  });
  const savedTo = await store.store(host, { username: options.username, password: options.password });
  return { registry: host, savedTo, verified };
}

export interface LogoutOptions {
  registry: string;
  authFile?: string;
  env?: NodeJS.ProcessEnv;
}

export async function logout(
  options: LogoutOptions,
): Promise<{ registry: string; removed: boolean; location: CredentialLocation }> {
  const host = parseRegistryHost(options.registry);
  const store = createCredentialStore({
    ...(options.authFile === undefined ? {} : { authFile: options.authFile }),
    ...(options.env === undefined ? {} : { env: options.env }),
  });
  const { removed, ...location } = await store.erase(host);
  return { registry: host, removed, location };
}
