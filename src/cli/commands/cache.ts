import type { Command } from 'commander';
import { action, printJson, printLine } from '../output.ts';

interface CacheCliOptions {
  cache?: string;
  json?: boolean;
  keep?: string;
}

/** `kart cache ls|verify|prune`: the pull -k cache (an OCI layout plus refs.json). */
export function register(program: Command): void {
  const cache = program.command('cache').description('inspect, check and trim the kernel pull cache');
  const withCacheOptions = (command: Command): Command =>
    command
      .option('--cache <dir>', 'the cache (default: $XDG_CACHE_HOME/kart or ~/.cache/kart)')
      .option('--json', 'print the result as JSON');

  withCacheOptions(cache.command('ls').description('list cached references, their digests and sizes')).action(
    action(async (options: CacheCliOptions) => {
      const { listCache } = await import('../../kernel/cache/index.ts');
      const listing = await listCache(await cacheDir(options));
      if (options.json === true) {
        printJson(listing);
        return 0;
      }
      for (const entry of listing.references) {
        const root = entry.pulled ?? entry.history[0];
        printLine(`${entry.reference}  ${root?.digest ?? '-'}  ${entry.size}`);
      }
      printLine(`${listing.blobs} blobs, ${listing.totalSize} bytes in ${listing.cache}`);
      return 0;
    }),
  );

  withCacheOptions(
    cache.command('verify').description('re-hash every cached blob; corrupt blobs are removed (exit 1)'),
  ).action(
    action(async (options: CacheCliOptions) => {
      const { verifyCache } = await import('../../kernel/cache/index.ts');
      const report = await verifyCache(await cacheDir(options));
      if (options.json === true) printJson(report);
      else {
        for (const bad of report.corrupt) {
          printLine(`corrupt ${bad.digest} (content hashes to ${bad.actual}): removed`);
        }
        printLine(`${report.checked} blobs checked, ${report.corrupt.length} corrupt`);
      }
      return report.ok ? 0 : 1;
    }),
  );

  withCacheOptions(
    cache
      .command('prune')
      .description('remove blobs not reachable from the N most recent digests of each reference')
      .option('--keep <n>', 'digests kept per reference (the last pulled one is always kept)', '1'),
  ).action(
    action(async (options: CacheCliOptions) => {
      const { KartError } = await import('../../errors.ts');
      const { pruneCache } = await import('../../kernel/cache/index.ts');
      const keep = Number(options.keep ?? '1');
      if (!/^\d+$/.test(options.keep ?? '1')) {
        throw new KartError('KEEP_INVALID', `--keep ${options.keep}: not a whole number of at least 0`, {
          hint: 'pass e.g. --keep 2 to keep the two most recent digests of each reference',
        });
      }
      const report = await pruneCache(await cacheDir(options), keep);
      if (options.json === true) printJson(report);
      else printLine(`removed ${report.removed.length} blobs (${report.freed} bytes), kept ${report.kept}`);
      return 0;
    }),
  );
}

async function cacheDir(options: CacheCliOptions): Promise<string> {
  if (options.cache !== undefined) return options.cache;
  const { defaultCacheDir } = await import('../../kernel/cache/index.ts');
  return defaultCacheDir();
}
