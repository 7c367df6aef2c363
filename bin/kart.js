#!/usr/bin/env -S node --max-semi-space-size=1
// --max-semi-space-size=1: kart streams blobs through many short-lived chunks; V8's default young
// generation lets them pile up before each scavenge. 1 MiB semi-spaces keep the peak RSS of moving a
// 1 GiB blob ~40-70 MB lower at no cost in time (V8 sizes its heap at start, so this must be a start
// flag, not v8.setFlagsFromString).
// In a checkout the CLI runs its TypeScript sources directly (Node >= 22.19 strips types natively),
// so there is no build step between an edit and `kart`; an installed package has no src/ and runs
// the bundle its build step made (scripts/bundle-cli.ts): a few minified files instead of ~220
// modules, which is most of a registry command's start-up.
// Stripping and compiling ~100 modules costs more than most commands' own work (a warm `pull -k`
// spent 0.3 s of 0.7 s on it), so kart keeps Node's on-disk compile cache (keyed by each file's
// content, so an edit is never served stale); NODE_COMPILE_CACHE / NODE_DISABLE_COMPILE_CACHE override.
// Written for any Node: on one too old for kart it says which Node it needs instead of a stack trace.
/* global process, URL */
import { existsSync } from 'node:fs';
import module from 'node:module';

const [major, minor] = process.versions.node.split('.').map(Number);
if (major < 22 || (major === 22 && minor < 19)) {
  process.stderr.write(
    `kart: error: Node ${process.versions.node} is too old; kart needs Node 22.19 or later (24 recommended)\n` +
      'kart: hint: in a kart checkout run `. scripts/toolchain.sh` (it fetches Node 24 into .toolchain/); ' +
      'otherwise install Node 24 from https://nodejs.org or your distribution\n',
  );
  process.exit(2);
}
module.enableCompileCache?.();
const source = new URL('../src/cli/main.ts', import.meta.url);
await import(existsSync(source) ? source.href : '../dist/bundle/cli/kart.js');
