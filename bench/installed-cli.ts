/**
 * kart as a user who installed the package runs it: `npm run build` (the bundle in dist/bundle/cli/),
 * then the package's shipped parts (bin/, dist/bundle/, flavors/, package.json) copied into a directory
 * with no src/, so bin/kart.js takes the bundle, as it does under node_modules. Its dependencies resolve
 * through a symlink to the checkout's node_modules (only @napi-rs/lzma is loaded from there).
 */
import { execFileSync } from 'node:child_process';
import { cpSync, mkdirSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';

/** Builds the package and lays out an installed copy in `dir`; returns its bin/kart.js. */
export function installedCli(root: string, dir: string): string {
  execFileSync(process.execPath, [join(root, 'scripts', 'build.ts')], { stdio: ['ignore', 2, 2] });
  mkdirSync(join(dir, 'dist'), { recursive: true });
  for (const part of ['bin', 'flavors', 'package.json', join('dist', 'bundle')]) {
    cpSync(join(root, part), join(dir, part), { recursive: true });
  }
  symlinkSync(join(root, 'node_modules'), join(dir, 'node_modules'));
  return join(dir, 'bin', 'kart.js');
}
