import { homedir } from 'node:os';
import { join } from 'node:path';
import type { Credential, CredentialLocation, WritableCredentialStore } from './credential.ts';
import {
  authKeysFor,
  credentialFromEntry,
  entryForCredential,
  findAuthEntry,
  helperFor,
  readAuthFile,
  updateAuthFile,
} from './auth-file.ts';
import { helperErase, helperGet, helperStore } from './credential-helper.ts';
import { serverAddressFor } from './server-address.ts';

export interface CredentialStoreOptions {
  /** Use only this file (docker config.json or containers auth.json shape), as `--authfile` does. */
  authFile?: string;
  /** Environment to read DOCKER_CONFIG, REGISTRY_AUTH_FILE, XDG_RUNTIME_DIR, HOME from. */
  env?: NodeJS.ProcessEnv;
}

/** `$DOCKER_CONFIG/config.json`, else `~/.docker/config.json`. */
export function dockerConfigPath(env: NodeJS.ProcessEnv = process.env): string {
  if (env.DOCKER_CONFIG) return join(env.DOCKER_CONFIG, 'config.json');
  return join(env.HOME || homedir(), '.docker', 'config.json');
}

/**
 * The files credentials are looked up in, in order: docker's config.json, then what skopeo and podman
 * use (REGISTRY_AUTH_FILE, else $XDG_RUNTIME_DIR/containers/auth.json).
 */
export function credentialFiles(options: CredentialStoreOptions = {}): string[] {
  if (options.authFile !== undefined) return [options.authFile];
  const env = options.env ?? process.env;
  const files = [dockerConfigPath(env)];
  if (env.REGISTRY_AUTH_FILE) files.push(env.REGISTRY_AUTH_FILE);
  else if (env.XDG_RUNTIME_DIR) files.push(join(env.XDG_RUNTIME_DIR, 'containers', 'auth.json'));
  return files;
}

/**
 * Credentials as docker, skopeo and podman keep them. In each file: the host's `credHelpers` entry,
 * else `credsStore` (the helper is then the only source for that file), else the plain `auths`
 * entry. The first file that has a credential wins. Writes go to `authFile`, else docker's config.json,
 * through its helper when one is configured.
 */
export function createCredentialStore(options: CredentialStoreOptions = {}): WritableCredentialStore {
  const writeTarget = options.authFile ?? dockerConfigPath(options.env ?? process.env);
  return {
    async get(registry: string): Promise<Credential | undefined> {
      for (const path of credentialFiles(options)) {
        const file = await readAuthFile(path);
        if (file === undefined) continue;
        const helper = helperFor(file, registry);
        if (helper !== undefined) {
          const found = await helperGet(helper, serverAddressFor(registry));
          if (found !== undefined) return found;
          continue;
        }
        const entry = findAuthEntry(file, registry);
        const credential = entry === undefined ? undefined : credentialFromEntry(path, entry);
        if (credential !== undefined) return credential;
      }
      return undefined;
    },

    async store(registry: string, credential: Credential): Promise<CredentialLocation> {
      const file = await readAuthFile(writeTarget);
      const helper = file === undefined ? undefined : helperFor(file, registry);
      if (helper !== undefined) {
        await helperStore(helper, serverAddressFor(registry), credential);
        return { kind: 'helper', where: `docker-credential-${helper}` };
      }
      await updateAuthFile(writeTarget, (f) => {
        for (const key of authKeysFor(f.auths, registry)) delete f.auths[key];
        f.auths[serverAddressFor(registry)] = entryForCredential(credential);
      });
      return { kind: 'file', where: writeTarget };
    },

    async erase(registry: string): Promise<CredentialLocation & { removed: boolean }> {
      const file = await readAuthFile(writeTarget);
      if (file === undefined) return { kind: 'file', where: writeTarget, removed: false };
      const helper = helperFor(file, registry);
      let removed = false;
      if (helper !== undefined) removed = await helperErase(helper, serverAddressFor(registry));
      const keys = authKeysFor(file.auths ?? {}, registry);
      if (keys.length > 0) {
        await updateAuthFile(writeTarget, (f) => {
          for (const key of authKeysFor(f.auths, registry)) delete f.auths[key];
        });
        removed = true;
      }
      return helper !== undefined
        ? { kind: 'helper', where: `docker-credential-${helper}`, removed }
        : { kind: 'file', where: writeTarget, removed };
    },
  };
}
