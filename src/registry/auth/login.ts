import { Agent, request, type Dispatcher } from 'undici';
import { KartError } from '../../errors.ts';
import { isLoopbackRegistry } from '../../oci/reference.ts';
import { staticCredentials, type CredentialLocation } from '../credentials/credential.ts';
import { createCredentialStore } from '../credentials/credential-store.ts';
import { normaliseRegistryHost } from '../credentials/server-address.ts';
import { DOCKER_HUB_REGISTRY } from '../../oci/reference.ts';
import { createAuthorizer } from './create-authorizer.ts';

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
  if (!HOST.test(host)) {
    throw new KartError('REGISTRY_INVALID', `"${input}" is not a registry host`, {
      exitCode: 2,
      hint: 'name the registry as HOST[:PORT], e.g. ghcr.io or localhost:5000',
    });
  }
  return normaliseRegistryHost(host) === 'docker.io' ? 'docker.io' : host.toLowerCase();
}

function registryBaseUrl(host: string, options: RegistryConnectionOptions): URL {
  const target = host === 'docker.io' ? DOCKER_HUB_REGISTRY : host;
  const plain = options.plainHttp ?? isLoopbackRegistry(target);
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

async function getV2(
  url: URL,
  authorization: string | undefined,
  dispatcher: Dispatcher | undefined,
  host: string,
) {
  try {
    const answer = await request(url, {
      method: 'GET',
      headers: authorization === undefined ? {} : { authorization },
      ...(dispatcher === undefined ? {} : { dispatcher }),
      headersTimeout: 30_000,
      bodyTimeout: 30_000,
    });
    await answer.body.dump();
    return answer;
  } catch (error) {
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
  const dispatcher =
    options.dispatcher ??
    (options.insecure ? new Agent({ connect: { rejectUnauthorized: false } }) : undefined);
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
      ...(dispatcher === undefined ? {} : { dispatcher }),
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
    if (options.dispatcher === undefined && dispatcher !== undefined) await dispatcher.close();
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
