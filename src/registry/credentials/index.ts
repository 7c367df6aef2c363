export * from './credential.ts';
export { createCredentialStore, credentialFiles, dockerConfigPath } from './credential-store.ts';
export type { CredentialStoreOptions } from './credential-store.ts';
export { normaliseRegistryHost, serverAddressFor, DOCKER_HUB_SERVER_ADDRESS } from './server-address.ts';
