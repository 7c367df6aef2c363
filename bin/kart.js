#!/usr/bin/env node
// The CLI runs its TypeScript sources directly: Node >= 22.19 strips types natively,
// so there is no build step between an edit and `kart`.
// Stripping and compiling ~100 modules costs more than most commands' own work (a warm `pull -k`
// spent 0.3 s of 0.7 s on it), so kart keeps Node's on-disk compile cache (keyed by each file's
// content, so an edit is never served stale); NODE_COMPILE_CACHE / NODE_DISABLE_COMPILE_CACHE override.
import module from 'node:module';

module.enableCompileCache?.();
await import('../src/cli/main.ts');
