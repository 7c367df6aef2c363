import type { Command } from 'commander';
import { action, printJson, printLine } from '../output.ts';

/** The options every registry command shares (copy, push, pull, tag, tags, resolve). */
export interface RegistryCliOptions {
  plainHttp?: boolean;
  insecure?: boolean;
  caFile?: string;
  concurrency?: string;
  json?: boolean;
  referrers?: boolean;
}

export function addRegistryOptions(command: Command): Command {
  return command
    .option('--plain-http', 'talk HTTP, not HTTPS, to the registry (loopback hosts default to HTTP)')
    .option('--insecure', 'skip TLS certificate verification')
    .option('--ca-file <pem>', 'trust the CA certificates in this PEM file')
    .option('--json', 'print the result as JSON');
}

/** Turns the shared options into openTarget options; loaded inside actions only. */
export async function targetOptions(options: RegistryCliOptions) {
  const { KartError } = await import('../../errors.ts');
  let concurrency: number | undefined;
  if (options.concurrency !== undefined) {
    concurrency = Number(options.concurrency);
    if (!Number.isInteger(concurrency) || concurrency < 1 || concurrency > 64) {
      throw new KartError(
        'CONCURRENCY_INVALID',
        `--concurrency ${options.concurrency}: not a whole number from 1 to 64`,
        {
          hint: 'pass e.g. --concurrency 4',
        },
      );
    }
  }
  return {
    plainHttp: options.plainHttp === true,
    insecure: options.insecure === true,
    ...(options.caFile ? { caFile: options.caFile } : {}),
    ...(concurrency ? { concurrency } : {}),
  };
}

/**
 * Runs a copy between two references and prints it: the digest (and tag) on stdout, or the JSON
 * report; progress lines on stderr only when stderr is a terminal.
 */
export async function runCopy(
  source: string,
  destination: string,
  options: RegistryCliOptions,
): Promise<void> {
  const { copyReference, transferProgress } = await import('../../registry/index.ts');
  const progress = transferProgress(process.stderr);
  const report = await copyReference(source, destination, {
    ...(await targetOptions(options)),
    referrers: options.referrers === true,
    ...progress,
  });
  progress.finish();
  if (options.json) printJson(report);
  else printLine(`${report.digest}${report.tag ? ` ${report.tag}` : ''}`);
}

/** `kart copy SRC DST`: registry or layout at either end, every platform of an index. */
export function register(program: Command): void {
  addRegistryOptions(
    program
      .command('copy')
      .description('copy an image or index (every platform) between registries and OCI layouts')
      .argument('<src>', 'source: [HOST/]REPO:TAG|@DIGEST or oci:DIR:TAG|@DIGEST')
      .argument('<dst>', 'destination: [HOST/]REPO[:TAG] or oci:DIR[:TAG] (tag defaults to the source tag)')
      .option('--referrers', 'also copy artifacts attached to the image (signatures, SBOMs)')
      .option('--concurrency <n>', 'blobs transferred at once', '4'),
  ).action(
    action(async (src: string, dst: string, options: RegistryCliOptions) => runCopy(src, dst, options)),
  );
}
