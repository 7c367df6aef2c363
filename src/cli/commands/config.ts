import type { Command } from 'commander';
import { action, printJson } from '../output.ts';

interface JsonOption {
  json?: boolean;
}

/**
 * `kart config diff|split|merge|verify-fragments`: the config model from the command line. Every input
 * may be a .config, a config.gz (detected by content) or `-` for stdin. diff and verify-fragments exit 1
 * when they find differences or lost values, like diff(1).
 */
export function register(program: Command): void {
  const config = program
    .command('config')
    .description('compare, split, merge kernel configs and verify that fragments survived');

  config
    .command('diff')
    .description('symbols removed, added and changed from BEFORE to AFTER (exit 1 when they differ)')
    .argument('<before>', 'a .config, config.gz or -')
    .argument('<after>', 'a .config, config.gz or -')
    .option('--json', 'print the differences as JSON')
    .action(
      action(async (beforePath: string, afterPath: string, options: JsonOption) => {
        const lib = await import('../../kernel/config/index.ts');
        const [before, after] = (await readAll(lib.readKernelConfig, [beforePath, afterPath])) as [
          Awaited<ReturnType<typeof lib.readKernelConfig>>,
          Awaited<ReturnType<typeof lib.readKernelConfig>>,
        ];
        warn(lib.renderWarningsText([...before.warnings, ...after.warnings]), options);
        const diff = lib.diffKernelConfigs(before, after);
        if (options.json) printJson(lib.diffToJson(before, after, diff));
        else process.stdout.write(lib.renderDiffText(before, after, diff));
        return diff.added.length + diff.removed.length + diff.changed.length === 0 ? 0 : 1;
      }),
    );

  config
    .command('split')
    .description("the part common to all CONFIGs and each one's own part (LinuxKit kconfig-split)")
    .argument('<configs...>', 'two or more .config, config.gz or - (once)')
    .option('--output-dir <dir>', 'write split-common and split-<name> files there instead of printing')
    .option('--json', 'print the parts as JSON')
    .action(
      action(async (paths: string[], options: JsonOption & { outputDir?: string }) => {
        const lib = await import('../../kernel/config/index.ts');
        const configs = await readAll(lib.readKernelConfig, paths);
        warn(lib.renderWarningsText(configs.flatMap((c) => c.warnings)), options);
        const split = lib.splitKernelConfigs(configs);
        const { outputPathError } = await import('../output-file.ts');
        const written = options.outputDir
          ? await lib.writeSplitFiles(split, options.outputDir).catch((error: unknown) => {
              throw outputPathError(options.outputDir!, error);
            })
          : undefined;
        if (options.json) printJson(written ? { written } : lib.splitToJson(split));
        else if (written) process.stdout.write(written.map((p) => `wrote ${p}\n`).join(''));
        else process.stdout.write(lib.renderSplitText(split));
      }),
    );

  config
    .command('merge')
    .description('apply FRAGMENTs in order over BASE, later wins, each override reported (merge_config.sh)')
    .argument('<base>', 'the base .config, config.gz or -')
    .argument('<fragments...>', 'config fragments, applied in order')
    .option(
      '-o, --output <file>',
      'write the merged config there (atomically; - is stdout) instead of to stdout',
    )
    .option('--json', 'print the overrides as JSON (with the merged config when there is no --output)')
    .action(
      action(async (basePath: string, fragmentPaths: string[], options: JsonOption & { output?: string }) => {
        const lib = await import('../../kernel/config/index.ts');
        const [base, ...fragments] = await readAll(lib.readKernelConfig, [basePath, ...fragmentPaths]);
        const merge = lib.mergeKernelConfigs(base!, fragments, options.output ?? 'merged');
        const text = lib.serializeKernelConfig(merge.config);
        // -o - is stdout: the config goes there and the report (text or JSON) to stderr.
        const toFile = options.output !== undefined && options.output !== '-';
        if (options.output && (toFile || options.json !== true)) {
          const { writeOutputFile } = await import('../output-file.ts');
          await writeOutputFile(options.output, text);
        }
        if (options.json) {
          printJson({
            ...lib.mergeToJson(merge),
            ...(toFile ? { output: options.output } : { config: text }),
          });
          return;
        }
        warn(lib.renderWarningsText(merge.warnings), options);
        // The merged config owns stdout unless it went to a file; the report then takes its place.
        const report = lib.renderMergeText(merge, fragments.length);
        if (toFile) process.stdout.write(report);
        else {
          if (options.output === undefined) process.stdout.write(text);
          process.stderr.write(report);
        }
      }),
    );

  config
    .command('verify-fragments')
    .description('every value FRAGMENTs requested that is not in FINAL (exit 1 when any is lost)')
    .argument('<final>', 'the final .config, config.gz or -')
    .argument('<fragments...>', 'the fragments that went into it')
    .option('--allow <file>', 'symbols whose loss is expected: one exact name a line, # comments')
    .option('--json', 'print the result as JSON')
    .action(
      action(async (finalPath: string, fragmentPaths: string[], options: JsonOption & { allow?: string }) => {
        const lib = await import('../../kernel/config/index.ts');
        // The allow-list first: a bad one is a usage error worth reporting before reading configs.
        const allowList = options.allow ? await lib.readAllowList(options.allow) : undefined;
        const [final, ...fragments] = await readAll(lib.readKernelConfig, [finalPath, ...fragmentPaths]);
        warn(lib.renderWarningsText([final!, ...fragments].flatMap((c) => c.warnings)), options);
        const result = lib.verifyFragments(final!, fragments, allowList);
        if (options.json) printJson(lib.verifyToJson(final!, result));
        else process.stdout.write(lib.renderVerifyText(final!, result, options.allow));
        return result.lost.length === 0 ? 0 : 1;
      }),
    );
}

/** Reads inputs in order; stdin can be read only once, so `-` may appear once. */
async function readAll<T>(read: (path: string) => Promise<T>, paths: string[]): Promise<T[]> {
  if (paths.filter((p) => p === '-').length > 1) {
    const { KartError } = await import('../../errors.ts');
    throw new KartError('CONFIG_STDIN_TWICE', 'stdin (-) can be given only once', {
      hint: 'save one of the inputs to a file and pass its path',
      exitCode: 2,
    });
  }
  const configs: T[] = [];
  for (const path of paths) configs.push(await read(path));
  return configs;
}

/** Duplicate-symbol warnings go to stderr in text mode; JSON carries its own. */
function warn(text: string, options: JsonOption): void {
  if (!options.json && text !== '') process.stderr.write(text);
}
