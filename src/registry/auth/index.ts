export { createAuthorizer } from './create-authorizer.ts';
export type { AuthorizerOptions } from './create-authorizer.ts';
export { parseWwwAuthenticate } from './challenge.ts';
export type { Challenge } from './challenge.ts';
export { checkRealm } from './realm-policy.ts';
export { normaliseScopes } from './token-cache.ts';
export { login, logout, verifyCredentials, parseRegistryHost } from './login.ts';
export type { LoginOptions, LoginResult, LogoutOptions, RegistryConnectionOptions } from './login.ts';
