/**
 * kart's public library surface. The CLI is a thin skin over these; a zone launcher written in
 * TypeScript can call them directly. Each room re-exports its own public pieces.
 */
export { KartError, isKartError, type ExitCode } from './errors.ts';
export * from './oci/index.ts';
export * from './registry/index.ts';
export * from './kernel/index.ts';
export * from './guest/index.ts';
