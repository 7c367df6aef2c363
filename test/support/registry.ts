/**
 * A real OCI registry for tests: Debian's docker-registry (CNCF distribution 2.8) started on 127.0.0.1
 * and a free port, with its storage in a temp dir and deletes enabled. It has no referrers API, so
 * pushes with a subject exercise the referrers tag fallback.
 *
 *   const registry = await startRegistry();                      // no auth
 *   const registry = await startRegistry({ countRequests: true }); // registry.requestLog sees every request
 *   const registry = await startRegistry({ accessLog: true });     // registry.accessLog(): its own log
 *   const cache = await startRegistry({ proxy: upstream.url });    // a pull-through cache (proxy mode)
 *   ... `${registry.host}/repo:tag` ...
 *   await registry.stop();
 *
 * Auth variants: the `auth` switch below selects the registry's `auth:` config block. The credential
 * side (htpasswd file, silly/token realms and the token endpoint) belongs to the auth room, which fills
 * in `authConfig()`; options stay extensible through `AuthOptions`.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startCountingProxy, type LoggedRequest } from './counting-proxy.ts';

export const REGISTRY_BINARY = '/usr/bin/docker-registry';

export type RegistryAuth = 'none' | 'htpasswd' | 'silly' | 'token';

export interface AuthOptions {
  /** htpasswd: path to an htpasswd file (bcrypt). */
  htpasswdPath?: string;
  /** silly / token: the token endpoint and service name the registry challenges with. */
  realm?: string;
  service?: string;
  /** token: issuer and the PEM certificate bundle whose key signs the tokens. */
  issuer?: string;
  rootCertBundle?: string;
}

export interface StartRegistryOptions {
  /** ===== auth switch (shared with the auth room) ===== */
  auth?: RegistryAuth;
  authOptions?: AuthOptions;
  /** Put a counting proxy in front; `host`/`url` then point at the proxy and `requestLog` fills. */
  countRequests?: boolean;
  /** How long to wait for `GET /v2/` to answer (ms). */
  startDeadlineMs?: number;
  /** Keep distribution's own access log (combined format); `accessLog()` reads it. */
  accessLog?: boolean;
  /** Run as a pull-through cache of this registry URL (distribution's `proxy: remoteurl:`). */
  proxy?: string;
}

/** One line of distribution's access log. */
export interface AccessLogEntry {
  method: string;
  path: string;
  status: number;
  /** response body bytes ('-' in the log counts as 0) */
  bytes: number;
  /** who asked: kart says `kart/…`; a proxy-mode registry fetching from its remote says otherwise */
  userAgent: string;
}

export interface TestRegistry {
  /** `127.0.0.1:PORT`, what a reference starts with */
  host: string;
  /** `http://127.0.0.1:PORT` */
  url: string;
  storageDir: string;
  /** Present when started with countRequests. */
  requestLog?: LoggedRequest[];
  /** The requests the registry has logged so far (started with accessLog; else empty). */
  accessLog(): AccessLogEntry[];
  /**
   * The same once the log has been quiet for a moment: the registry writes a request's line after its
   * answer, so a client that has just read a body may be ahead of the log on a busy machine.
   */
  settledAccessLog(): Promise<AccessLogEntry[]>;
  /** Stops the registry process, keeping its storage (a later `start()` serves it again on the same port). */
  pause(): Promise<void>;
  /** Starts it again after pause(). */
  resume(): Promise<void>;
  stop(): Promise<void>;
}

function authConfig(auth: RegistryAuth, o: AuthOptions): string {
  switch (auth) {
    case 'none':
      return '';
    case 'htpasswd':
      return `auth:\n  htpasswd:\n    realm: kart-test\n    path: ${need(o.htpasswdPath, 'htpasswdPath')}\n`;
    case 'silly':
      return `auth:\n  silly:\n    realm: ${need(o.realm, 'realm')}\n    service: ${need(o.service, 'service')}\n`;
    case 'token':
      return (
        `auth:\n  token:\n    realm: ${need(o.realm, 'realm')}\n    service: ${need(o.service, 'service')}\n` +
        `    issuer: ${need(o.issuer, 'issuer')}\n    rootcertbundle: ${need(o.rootCertBundle, 'rootCertBundle')}\n`
      );
  }
}

function need(value: string | undefined, name: string): string {
  if (value === undefined) throw new Error(`startRegistry: this auth mode needs authOptions.${name}`);
  return value;
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

async function waitUntilServing(url: string, child: ChildProcess, deadlineMs: number, log: () => string) {
  const deadline = Date.now() + deadlineMs;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`docker-registry exited (${child.exitCode}):\n${log()}`);
    try {
      const answer = await fetch(`${url}/v2/`);
      if (answer.status === 200 || answer.status === 401) return;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline)
      throw new Error(`docker-registry did not answer ${url}/v2/ in ${deadlineMs} ms:\n${log()}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

export async function startRegistry(options: StartRegistryOptions = {}): Promise<TestRegistry> {
  if (!existsSync(REGISTRY_BINARY)) {
    throw new Error(
      `test setup: ${REGISTRY_BINARY} is missing; install the Debian package: apt-get install -y docker-registry`,
    );
  }
  const root = mkdtempSync(join(tmpdir(), 'kart-registry-'));
  const storageDir = join(root, 'storage');
  const port = await freePort();
  const configPath = join(root, 'config.yml');
  writeFileSync(
    configPath,
    [
      'version: 0.1',
      'log:',
      '  level: error',
      '  accesslog:',
      `    disabled: ${options.accessLog === true ? 'false' : 'true'}`,
      'storage:',
      '  filesystem:',
      `    rootdirectory: ${storageDir}`,
      '  delete:',
      '    enabled: true',
      'http:',
      `  addr: 127.0.0.1:${port}`,
      ...(options.proxy === undefined ? [] : ['proxy:', `  remoteurl: ${options.proxy}`]),
      authConfig(options.auth ?? 'none', options.authOptions ?? {}),
    ].join('\n'),
  );
  // The registry logs to files, not pipes: a pipe is drained only while this process's event loop
  // runs, and a caller blocked in spawnSync (the bench, runKartSync) would let it fill; distribution
  // then blocks on its next log line (an error line for every 404) and stops answering requests.
  // The access log goes to stdout.
  const logPath = join(root, 'registry.log');
  const accessLogPath = join(root, 'access.log');
  const stderr = () => {
    try {
      return readFileSync(logPath, 'utf8').slice(-4000);
    } catch {
      return '';
    }
  };
  const direct = `http://127.0.0.1:${port}`;
  let child: ChildProcess;
  const launch = async (): Promise<void> => {
    const logFd = openSync(logPath, 'a');
    const accessFd = openSync(accessLogPath, 'a');
    child = spawn(REGISTRY_BINARY, ['serve', configPath], { stdio: ['ignore', accessFd, logFd] });
    closeSync(logFd);
    closeSync(accessFd);
    await waitUntilServing(direct, child, options.startDeadlineMs ?? 20_000, stderr);
  };
  const halt = async (): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      await exited;
    }
  };
  try {
    await launch();
  } catch (error) {
    child!.kill('SIGKILL');
    rmSync(root, { recursive: true, force: true });
    throw error;
  }
  const proxy = options.countRequests ? await startCountingProxy({ hostname: '127.0.0.1', port }) : undefined;
  const host = proxy?.host ?? `127.0.0.1:${port}`;
  return {
    host,
    url: `http://${host}`,
    storageDir,
    ...(proxy ? { requestLog: proxy.requestLog } : {}),
    accessLog: () => readAccessLog(accessLogPath),
    settledAccessLog: () => settledAccessLog(accessLogPath),
    pause: halt,
    resume: launch,
    async stop() {
      await proxy?.stop();
      await halt();
      rmSync(root, { recursive: true, force: true });
    },
  };
}

/** The access log once it has not grown for 200 ms (at most 5 s of waiting). */
async function settledAccessLog(path: string): Promise<AccessLogEntry[]> {
  let entries = readAccessLog(path);
  for (let quiet = 0, waited = 0; quiet < 200 && waited < 5_000; waited += 50) {
    await new Promise((done) => setTimeout(done, 50));
    const now = readAccessLog(path);
    quiet = now.length === entries.length ? quiet + 50 : 0;
    entries = now;
  }
  return entries;
}

/** Parses distribution's combined-format access log: `... "GET /v2/... HTTP/1.1" 200 1234 ...`. */
function readAccessLog(path: string): AccessLogEntry[] {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    return [];
  }
  const entries: AccessLogEntry[] = [];
  for (const line of text.split('\n')) {
    const match = /"([A-Z]+) (\S+) HTTP\/[0-9.]+" (\d{3}) (\d+|-) "[^"]*" "([^"]*)"/.exec(line);
    if (match === null) continue;
    entries.push({
      method: match[1]!,
      path: match[2]!,
      status: Number(match[3]),
      bytes: match[4] === '-' ? 0 : Number(match[4]),
      userAgent: match[5]!,
    });
  }
  return entries;
}
