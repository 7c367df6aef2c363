import type { Command } from 'commander';
import { action, collect, printJson, printLine } from '../output.ts';

interface PackOptions {
  output: string;
  kernel?: string;
  config?: string;
  addons?: string;
  modules?: string;
  flavor?: string;
  check: boolean;
  version?: string;
  arch?: string;
  annotation: string[];
  tag: string[];
  compress: string;
  source?: string;
  revision?: string;
  json?: boolean;
}

/** `kart pack [BUILD_DIR] -o oci:DIR:TAG --flavor F`: a kernel build → the OCI artifact, tagged. */
export function register(program: Command): void {
  program
    .command('pack')
    .description('pack a kernel build (image, config, addons or modules) into an OCI image layout')
    .argument(
      '[build-dir]',
      'a build directory with conventional names (bzImage, Image, .config, lib/modules/, ...)',
    )
    .requiredOption('-o, --output <oci:DIR:TAG>', 'the OCI image layout and tag to write')
    .option('--kernel <file>', 'the kernel image (bzImage, Image, Image.gz, vmlinuz)')
    .option('--config <file>', 'the kernel config (.config or config.gz)')
    .option('--addons <file>', 'an existing addons.squashfs')
    .option('--modules <dir>', 'a lib/modules/<release> tree (or its parent), packed with mksquashfs')
    .option('--flavor <name|path>', 'the flavor (required): KERNEL_FLAVOR, its requirements and addons limit')
    .option('--no-check', "do not check the config against the flavor's requirements")
    .option('--version <x.y.z>', 'KERNEL_VERSION (default: the numeric prefix of the release)')
    .option('--arch <amd64|arm64>', 'the architecture (default: read from the image; must agree)')
    .option('--annotation <key=value>', 'a manifest annotation (repeatable)', collect, [])
    .option(
      '--tag <tag>',
      'another tag for the index (repeatable); all tags go into KERNEL_TAGS',
      collect,
      [],
    )
    .option('--compress <none|gzip>', 'layer compression', 'none')
    .option('--source <url>', 'org.opencontainers.image.source')
    .option('--revision <rev>', 'org.opencontainers.image.revision')
    .option('--json', 'print the result as JSON')
    .action(
      action(async (buildDir: string | undefined, options: PackOptions) => {
        const { KartError } = await import('../../errors.ts');
        const { parseReference } = await import('../../oci/reference.ts');
        if (options.flavor === undefined) {
          throw new KartError('PACK_FLAVOR_MISSING', 'kart pack needs --flavor', {
            hint: 'name a shipped flavor (kart flavors lists them) or a flavor file',
          });
        }
        if (options.compress !== 'none' && options.compress !== 'gzip') {
          throw new KartError('PACK_BAD_COMPRESS', `unknown --compress ${JSON.stringify(options.compress)}`, {
            hint: 'use none or gzip',
          });
        }
        const reference = parseReference(options.output);
        if (reference.kind !== 'layout' || reference.tag === undefined) {
          throw new KartError('PACK_BAD_OUTPUT', `--output ${options.output} is not oci:DIR:TAG`, {
            hint: 'write to an OCI image layout with a tag, e.g. -o oci:./out:6.1.0; push it with kart push',
          });
        }
        const annotations: Record<string, string> = {};
        for (const pair of options.annotation) {
          const eq = pair.indexOf('=');
          if (eq <= 0) {
            throw new KartError(
              'PACK_BAD_ANNOTATION',
              `--annotation ${JSON.stringify(pair)} is not key=value`,
              {
                hint: 'e.g. --annotation org.opencontainers.image.vendor=Example',
              },
            );
          }
          annotations[pair.slice(0, eq)] = pair.slice(eq + 1);
        }
        const epochText = process.env.SOURCE_DATE_EPOCH;
        let sourceDateEpoch: number | undefined;
        if (epochText !== undefined && epochText !== '') {
          sourceDateEpoch = /^[0-9]+$/.test(epochText) ? Number(epochText) : NaN;
          if (!Number.isSafeInteger(sourceDateEpoch)) {
            throw new KartError(
              'SOURCE_DATE_EPOCH_INVALID',
              `SOURCE_DATE_EPOCH "${epochText}" is not a Unix time in seconds`,
              {
                hint: 'set SOURCE_DATE_EPOCH to whole seconds, e.g. $(git log -1 --format=%ct)',
              },
            );
          }
        }
        const { openLayout } = await import('../../oci/layout.ts');
        const { packKernel } = await import('../../kernel/artifact/index.ts');
        const target = await openLayout(reference.dir, { create: true });
        const result = await packKernel(
          {
            ...(buildDir === undefined ? {} : { buildDir }),
            ...(options.kernel === undefined ? {} : { kernel: options.kernel }),
            ...(options.config === undefined ? {} : { config: options.config }),
            ...(options.addons === undefined ? {} : { addons: options.addons }),
            ...(options.modules === undefined ? {} : { modules: options.modules }),
            flavor: options.flavor,
            noCheck: !options.check,
            ...(options.version === undefined ? {} : { version: options.version }),
            ...(options.arch === undefined ? {} : { arch: options.arch }),
            annotations,
            tags: [reference.tag, ...options.tag],
            compress: options.compress,
            ...(sourceDateEpoch === undefined ? {} : { sourceDateEpoch }),
            ...(options.source === undefined ? {} : { sourceUrl: options.source }),
            ...(options.revision === undefined ? {} : { revision: options.revision }),
            onProgress: (message) => {
              if (options.json !== true) process.stderr.write(`kart: ${message}\n`);
            },
          },
          target,
        );
        if (options.json === true) {
          printJson({
            target: result.target,
            platform: `${result.platform.os}/${result.platform.architecture}`,
            manifest: result.manifest,
            config: result.config,
            indexes: result.indexes.map((i) => ({
              tag: i.tag,
              digest: i.index.digest,
              platforms: i.platforms,
            })),
            files: result.files.map((f) => ({ path: f.path, size: f.size, layer: f.layer })),
            metadata: result.metadata,
            annotations: result.annotations,
            inputs: result.choices,
          });
          return 0;
        }
        for (const choice of result.choices) {
          printLine(
            `took ${choice.path} as the ${choice.role}${choice.from === 'build directory' ? ' (found in the build directory)' : ''}`,
          );
        }
        printLine(
          `packed ${result.image.release} (linux/${result.platform.architecture}, flavor ${result.metadata.flavor}, version ${result.metadata.version})`,
        );
        for (const file of result.files)
          printLine(`  ${file.path.padEnd(24)} ${String(file.size).padStart(10)}  ${file.layer.digest}`);
        printLine(`manifest ${result.manifest.digest}`);
        for (const index of result.indexes) {
          printLine(`${result.target}:${index.tag} -> ${index.index.digest} (${index.platforms.join(', ')})`);
        }
        return 0;
      }),
    );
}
