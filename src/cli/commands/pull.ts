import type { Command } from 'commander';
import { action, printJson, printLine } from '../output.ts';
import { addRegistryOptions, targetOptions, type RegistryCliOptions } from '../registry-options.ts';
import { runCopy } from './copy.ts';
import { guestLines } from '../guest-options.ts';

interface PullCliOptions extends RegistryCliOptions {
  kernel?: string;
  dest?: string;
  arch?: string;
  flavor?: string;
  cache?: string;
  offline?: boolean;
  verifyInstalled?: boolean;
}

/**
 * Two forms: `kart pull REF oci:DIR[:TAG]` copies an image from a registry (or a layout) into a layout;
 * `kart pull -k REF --dest DIR` installs one platform's kernel through the cache (zone launchers).
 */
export function register(program: Command): void {
  addRegistryOptions(
    program
      .command('pull')
      .description(
        'pull a kernel into a directory (-k REF --dest DIR, through the cache), or copy an image into an OCI layout (REF oci:DIR:TAG)',
      )
      .argument('[ref]', '[HOST/]REPO:TAG, [HOST/]REPO@DIGEST or oci:DIR:TAG (copy form)')
      .argument('[layout]', 'oci:DIR[:TAG] (copy form; created when missing; tag defaults to the source tag)')
      .option('-k, --kernel <ref>', 'the kernel image to install: [HOST/]REPO:TAG or @DIGEST')
      .option('--dest <dir>', 'with -k: the directory to install into (a symlink to a versioned sibling)')
      .option('--arch <amd64|arm64>', "with -k: the platform (default: the host's)")
      .option('--flavor <name|path>', 'with -k: refuse a kernel whose config fails this flavor')
      .option('--cache <dir>', 'with -k: the blob cache (default: $XDG_CACHE_HOME/kart or ~/.cache/kart)')
      .option('--offline', 'with -k: no network; install the digest last pulled for REF from the cache')
      .option(
        '--verify-installed',
        "with -k: re-hash DEST's files before trusting that it already holds REF (default: sizes only)",
      )
      .option('--referrers', 'copy form: also copy artifacts attached to the image')
      .option('--concurrency <n>', 'copy form: blobs downloaded at once', '4'),
  ).action(
    action(async (ref: string | undefined, layout: string | undefined, options: PullCliOptions) => {
      const { KartError } = await import('../../errors.ts');
      if (options.kernel !== undefined) {
        if (ref !== undefined || options.dest === undefined) {
          throw new KartError(
            'PULL_USAGE',
            ref !== undefined
              ? `kart pull -k takes the reference after -k, not "${ref}" as well`
              : 'kart pull -k needs --dest DIR',
            { hint: 'write kart pull -k HOST/REPO:TAG --dest DIR' },
          );
        }
        return pullKernelCommand(options.kernel, options.dest, options);
      }
      // The destination must be a layout (a registry destination is a push); the source may be either.
      if (ref === undefined || layout === undefined || !layout.startsWith('oci:')) {
        throw new KartError(
          'PULL_USAGE',
          `kart pull copies into an OCI layout, got "${ref ?? ''}" → "${layout ?? ''}"`,
          {
            hint: 'write kart pull HOST/REPO:TAG oci:DIR:TAG (or kart pull -k REF --dest DIR to install a kernel)',
          },
        );
      }
      await runCopy(ref, layout, options);
    }),
  );
}

async function pullKernelCommand(ref: string, dest: string, options: PullCliOptions): Promise<number> {
  const { pullKernel } = await import('../../kernel/pull/index.ts');
  const { parseArchOption } = await import('../../kernel/artifact/kernel-platform.ts');
  const target = await targetOptions({ ...options, concurrency: undefined });
  const result = await pullKernel({
    reference: ref,
    dest,
    target,
    offline: options.offline === true,
    verifyInstalled: options.verifyInstalled === true,
    ...(options.arch === undefined ? {} : { arch: parseArchOption(options.arch) }),
    ...(options.flavor === undefined ? {} : { flavor: options.flavor }),
    ...(options.cache === undefined ? {} : { cacheDir: options.cache }),
  });
  if (options.json === true) {
    printJson(result);
    return 0;
  }
  printLine(
    `${result.installed ? 'installed' : 'unchanged'} ${result.reference} (${result.platform}, ${result.manifestDigest}) in ${result.dest}`,
  );
  for (const file of result.files) {
    printLine(
      `  ${file.name.padEnd(16)} ${String(file.size).padStart(10)}  ${file.digest}${file.fromCache ? '  (cache)' : ''}`,
    );
  }
  for (const line of guestLines(result.guest)) printLine(line);
  return 0;
}
