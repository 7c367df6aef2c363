import type { Command } from 'commander';
import { addBuildOptions, packOptionsOf, type BuildFlags } from '../build-options.ts';
import { interruptSignal } from '../interrupt.ts';
import { action, collect, printJson, printLine } from '../output.ts';

interface PackOptions extends BuildFlags {
  output: string;
  flavor?: string;
  check: boolean;
  tag: string[];
  json?: boolean;
}

/** `kart pack [BUILD_DIR] -o oci:DIR:TAG --flavor F`: a kernel build → the OCI artifact, tagged. */
export function register(program: Command): void {
  addBuildOptions(program.command('pack'))
    .description('pack a kernel build (image, config, addons or modules) into an OCI image layout')
    .argument(
      '[build-dir]',
      'a build directory with conventional names (bzImage, Image, .config, lib/modules/, ...)',
    )
    .requiredOption('-o, --output <oci:DIR:TAG>', 'the OCI image layout and tag to write')
    .option('--flavor <name|path>', 'the flavor (required): KERNEL_FLAVOR, its requirements and addons limit')
    .option('--no-check', "do not check the config against the flavor's requirements")
    .option(
      '--tag <tag>',
      'another tag for the index (repeatable); all tags go into KERNEL_TAGS',
      collect,
      [],
    )
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
        const packOptions = packOptionsOf(options);
        const reference = parseReference(options.output);
        if (reference.kind !== 'layout' || reference.tag === undefined) {
          throw new KartError('PACK_BAD_OUTPUT', `--output ${options.output} is not oci:DIR:TAG`, {
            hint: 'write to an OCI image layout with a tag, e.g. -o oci:./out:6.1.0; push it with kart push',
          });
        }
        const { openLayout } = await import('../../oci/layout.ts');
        const { packKernel } = await import('../../kernel/artifact/index.ts');
        const result = await packKernel(
          {
            ...(buildDir === undefined ? {} : { buildDir }),
            ...packOptions,
            flavor: options.flavor,
            noCheck: !options.check,
            tags: [reference.tag, ...options.tag],
            signal: interruptSignal(),
            onProgress: (message) => {
              if (options.json !== true) process.stderr.write(`kart: ${message}\n`);
            },
          },
          // Opened (and created) only once the pack has passed every check: a refused pack into a
          // new directory leaves no empty layout behind.
          () => openLayout(reference.dir, { create: true }),
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
