import type { Command } from 'commander';
import { KartError } from '../errors.ts';
import { collect } from './output.ts';

/**
 * The flags that describe one kernel build and how its artifact is made, shared by `kart pack` and
 * `kart publish` (publish packs first), and the parsing of their values, so both commands accept and
 * refuse the same input with the same errors.
 */
export interface BuildFlags {
  kernel?: string;
  config?: string;
  addons?: string;
  modules?: string;
  version?: string;
  arch?: string;
  annotation: string[];
  compress: string;
  source?: string;
  revision?: string;
  format?: string;
  systemMap?: string;
}

export function addBuildOptions(command: Command): Command {
  return command
    .option('--kernel <file>', 'the kernel image (bzImage, Image, Image.gz, vmlinuz)')
    .option('--config <file>', 'the kernel config (.config or config.gz)')
    .option('--addons <file>', 'an existing addons.squashfs')
    .option('--modules <dir>', 'a lib/modules/<release> tree (or its parent), packed with mksquashfs')
    .option(
      '--version <x.y.z>',
      'KERNEL_VERSION, a kernel release such as 6.1.10 or 7.3.0-rc3 (default: the X.Y.Z prefix of the release)',
    )
    .option('--arch <amd64|arm64>', 'the architecture (default: read from the image; must agree)')
    .option(
      '--annotation <key=value>',
      "a manifest annotation (repeatable; dev.edera.kernel.* are kart's own, refused)",
      collect,
      [],
    )
    .option('--compress <none|gzip>', 'layer compression', 'none')
    .option('--source <url>', 'org.opencontainers.image.source')
    .option('--revision <rev>', 'org.opencontainers.image.revision')
    .option(
      '--format <kart|linuxkit>',
      "the image's shape: kart (kernel/image, config.gz, addons.squashfs, metadata) or linuxkit (kernel, kernel.tar, kernel-dev.tar at the root)",
      'kart',
    )
    .option('--system-map <file>', 'with --format linuxkit: the System.map to ship');
}

/**
 * What the build flags say, as packKernel's options (publish passes them on to it): only what was
 * given, with values parsed and checked. Reads SOURCE_DATE_EPOCH.
 */
export function packOptionsOf(flags: BuildFlags) {
  const sourceDateEpoch = readSourceDateEpoch();
  return {
    ...(flags.kernel === undefined ? {} : { kernel: flags.kernel }),
    ...(flags.config === undefined ? {} : { config: flags.config }),
    ...(flags.addons === undefined ? {} : { addons: flags.addons }),
    ...(flags.modules === undefined ? {} : { modules: flags.modules }),
    ...(flags.version === undefined ? {} : { version: flags.version }),
    ...(flags.arch === undefined ? {} : { arch: flags.arch }),
    annotations: parseKeyValues(flags.annotation, '--annotation'),
    compress: parseCompress(flags.compress),
    ...(sourceDateEpoch === undefined ? {} : { sourceDateEpoch }),
    ...(flags.source === undefined ? {} : { sourceUrl: flags.source }),
    ...(flags.revision === undefined ? {} : { revision: flags.revision }),
    ...(flags.format === undefined ? {} : { format: parseFormat(flags.format) }),
    ...(flags.systemMap === undefined ? {} : { systemMap: flags.systemMap }),
  };
}

export function parseCompress(value: string): 'none' | 'gzip' {
  if (value === 'none' || value === 'gzip') return value;
  throw new KartError('OPTION_INVALID', `unknown --compress ${JSON.stringify(value)}`, {
    hint: 'use none or gzip',
  });
}

export function parseFormat(value: string): 'kart' | 'linuxkit' {
  if (value === 'kart' || value === 'linuxkit') return value;
  throw new KartError('OPTION_INVALID', `unknown --format ${JSON.stringify(value)}`, {
    hint: 'use kart or linuxkit',
  });
}

/** Repeated `--flag name=value` options as a record; a pair without a name is refused. */
export function parseKeyValues(pairs: readonly string[], flag: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const pair of pairs) {
    const eq = pair.indexOf('=');
    if (eq <= 0) {
      throw new KartError('OPTION_INVALID', `${flag} ${JSON.stringify(pair)} is not name=value`, {
        hint: `e.g. ${flag} org.opencontainers.image.vendor=Example`,
      });
    }
    out[pair.slice(0, eq)] = pair.slice(eq + 1);
  }
  return out;
}

/** SOURCE_DATE_EPOCH (reproducible builds): whole seconds, or unset. */
export function readSourceDateEpoch(env: NodeJS.ProcessEnv = process.env): number | undefined {
  const text = env.SOURCE_DATE_EPOCH;
  if (text === undefined || text === '') return undefined;
  if (!/^[0-9]+$/.test(text) || !Number.isSafeInteger(Number(text))) {
    throw new KartError(
      'SOURCE_DATE_EPOCH_INVALID',
      `SOURCE_DATE_EPOCH "${text}" is not a Unix time in seconds`,
      {
        hint: 'set SOURCE_DATE_EPOCH to whole seconds, e.g. $(git log -1 --format=%ct)',
      },
    );
  }
  return Number(text);
}
