/**
 * The installed CLI's bundle: src/cli/main.ts and what it imports (kart's modules and its pure-JS
 * dependencies: commander, undici, sigstore...) as minified ES modules in dist/bundle/cli/, which
 * bin/kart.js runs when the package has no src/. A registry command otherwise loads ~130 files (38 of
 * undici) before its first request; one file parses and compiles in a fraction of that.
 * Code splitting keeps each command's lazily imported library code in its own chunk, so `kart --help`
 * still loads only the option tables.
 *
 * Two things the bundle must see that the sources hide:
 *  - undici-core.ts loads undici's internals through `createRequire(import.meta.url)`, a local
 *    `require` esbuild leaves alone; the plugin drops that line so the calls meet the global
 *    `require` (the banner's), which esbuild follows and bundles.
 *  - load.ts finds the shipped flavors at `../../../flavors/` from its own URL; the bundle's chunks
 *    sit at the same depth (dist/bundle/cli/), so the same path reaches the package's flavors/.
 * @napi-rs/lzma loads a native addon per platform: it stays a runtime dependency.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { build, type Plugin } from 'esbuild';

export const BUNDLE_DIR = join('dist', 'bundle', 'cli');
/** The bundle's entry, relative to the package root. */
export const BUNDLE_ENTRY = join(BUNDLE_DIR, 'kart.js');

const LOCAL_REQUIRE = 'const require = createRequire(import.meta.url);';

const undiciRequires: Plugin = {
  name: 'kart-undici-requires',
  setup(b) {
    b.onLoad({ filter: /[\\/]src[\\/]registry[\\/]undici-core\.ts$/ }, async ({ path }) => {
      const text = await readFile(path, 'utf8');
      if (!text.includes(LOCAL_REQUIRE)) {
        throw new Error(`${path} no longer declares "${LOCAL_REQUIRE}": update scripts/bundle-cli.ts`);
      }
      return { contents: text.replace(LOCAL_REQUIRE, ''), loader: 'ts' };
    });
  },
};

/** Builds the bundle into ROOT/dist/bundle/cli/ (the caller has emptied dist/). */
export async function bundleCli(root: string): Promise<void> {
  await build({
    absWorkingDir: root,
    entryPoints: { kart: 'src/cli/main.ts' },
    outdir: BUNDLE_DIR,
    bundle: true,
    splitting: true,
    format: 'esm',
    platform: 'node',
    target: 'node22.19',
    minify: true,
    chunkNames: 'chunk-[hash]',
    external: ['@napi-rs/lzma'],
    // CommonJS dependencies (undici, commander's peers) call require('node:…'): in an ES module there
    // is no require, so each chunk gets one.
    banner: {
      js: "import{createRequire as __kartRequire}from'node:module';const require=__kartRequire(import.meta.url);",
    },
    legalComments: 'eof',
    logLevel: 'warning',
    plugins: [undiciRequires],
  });
}
