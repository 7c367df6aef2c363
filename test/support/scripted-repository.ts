/**
 * A RepositoryStore (`acme/kernel`) over a scripted server, for tests of registry behaviour that
 * only a scripted server shows. Call `scriptedRepositories()` at the top of a test file: every server
 * it starts and every client it opens is closed after each test. Retries wait 1-2 ms, so a test of
 * a retry loop takes no real time.
 *
 *   const { serve, store } = scriptedRepositories();
 *   const server = await serve((req, res) => ...);
 *   await store(server, { timeoutMs: 400 }).fetchManifest('6.1');
 */
import { afterEach } from 'vitest';
import { RegistryHttpClient, type HttpClientOptions } from '../../src/registry/http-client.ts';
import { RepositoryStore, type RepositoryOptions } from '../../src/registry/repository.ts';
import { startScriptedServer, type Script, type ScriptedServer } from './scripted-server.ts';

export interface ScriptedRepositories {
  /** Starts a scripted server, stopped after the test. */
  serve(script: Script): Promise<ScriptedServer>;
  /** A store over `server` with its own client (the file's defaults, then `options`), closed after the test. */
  store(
    server: ScriptedServer,
    options?: HttpClientOptions,
    extra?: Partial<RepositoryOptions>,
  ): RepositoryStore;
}

/** `defaults` are client options every store of the file gets before its own. */
export function scriptedRepositories(defaults: HttpClientOptions = {}): ScriptedRepositories {
  const servers: ScriptedServer[] = [];
  const clients: RegistryHttpClient[] = [];
  afterEach(async () => {
    await Promise.all(clients.splice(0).map((c) => c.close()));
    await Promise.all(servers.splice(0).map((s) => s.stop()));
  });
  return {
    async serve(script) {
      const server = await startScriptedServer(script);
      servers.push(server);
      return server;
    },
    store(server, options = {}, extra = {}) {
      const client = new RegistryHttpClient({
        retry: { baseDelayMs: 1, maxDelayMs: 2 },
        ...defaults,
        ...options,
      });
      clients.push(client);
      return new RepositoryStore({ client, host: server.host, repository: 'acme/kernel', ...extra });
    },
  };
}
