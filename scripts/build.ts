/**
 * `npm run build`, also run by `prepack` (so by `npm pack`, `npm publish` and a git install, but not by
 * `npm ci` in a checkout): compiles src/ into dist/ (JS, .d.ts, source maps carrying their sources) for
 * the library, and bundles the CLI into dist/bundle/cli/ (scripts/bundle-cli.ts), which an installed
 * bin/kart.js runs. The checkout never needs it: bin/kart.js and the tests run the TypeScript sources.
 *
 * tsc rewrites the sources' relative `.ts` import specifiers to `.js` in the JS it emits
 * (rewriteRelativeImportExtensions) but leaves them as `.ts` in declaration files, where a consumer's
 * tsc without allowImportingTsExtensions would not follow them: they are rewritten here.
 */
import { execFileSync } from 'node:child_process';
import { readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { bundleCli } from './bundle-cli.ts';

const root = fileURLToPath(new URL('..', import.meta.url));
const dist = join(root, 'dist');
const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');

await rm(dist, { recursive: true, force: true });
execFileSync(process.execPath, [tsc, '-p', join(root, 'tsconfig.build.json')], { stdio: 'inherit' });

const relativeTsSpecifier = /(from\s+|import\s*\(\s*)(['"])(\.{1,2}\/[^'"]*?)\.ts\2/g;
for (const entry of await readdir(dist, { recursive: true })) {
  if (!entry.endsWith('.d.ts')) continue;
  const path = join(dist, entry);
  const text = await readFile(path, 'utf8');
  const rewritten = text.replace(relativeTsSpecifier, '$1$2$3.js$2');
  if (rewritten !== text) await writeFile(path, rewritten);
}

await bundleCli(root);
