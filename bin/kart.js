#!/usr/bin/env -S node --max-semi-space-size=1
// --max-semi-space-size=1: kart streams blobs through many short-lived chunks; V8's default young
// generation lets them pile up before each scavenge. 1 MiB semi-spaces keep the peak RSS of moving a
// 1 GiB blob ~40-70 MB lower at no cost in time (V8 sizes its heap at start, so this must be a start
// flag, not v8.setFlagsFromString).
// The CLI runs its TypeScript sources directly: Node >= 22.19 strips types natively,
// so there is no build step between an edit and `kart`.
// Stripping and compiling ~100 modules costs more than most commands' own work (a warm `pull -k`
// spent 0.3 s of 0.7 s on it), so kart keeps Node's on-disk compile cache (keyed by each file's
// content, so an edit is never served stale); NODE_COMPILE_CACHE / NODE_DISABLE_COMPILE_CACHE override.
import module from 'node:module';

module.enableCompileCache?.();
await import('../src/cli/main.ts');
