import type { Command } from 'commander';
import { action, printJson, printLine } from '../output.ts';
import { addTransportOptions, transportOptions, type TransportFlags } from '../registry-options.ts';

interface UnpackOptions extends TransportFlags {
  dest: string;
  arch?: string;
  flavor?: string;
  json?: boolean;
}

/** `kart unpack oci:DIR:TAG --dest DIR`: installs one platform's kernel files, verified, atomically. */
export function register(program: Command): void {
  addTransportOptions(
    program
      .command('unpack')
      .description(
        'install a kernel image from an OCI layout into a directory (kernel, config, addons.squashfs, metadata)',
      )
      .argument('<ref>', 'oci:DIR:TAG or oci:DIR@DIGEST (a registry reference works too)')
      .requiredOption(
        '--dest <dir>',
        'the directory to install into (kart makes it a symlink to a versioned sibling)',
      )
      .option('--arch <amd64|arm64>', "the platform to install (default: the host's)")
      .option('--flavor <name|path>', "also check the kernel's config against this flavor")
      .option('--json', 'print the result as JSON'),
  ).action(
    action(async (ref: string, options: UnpackOptions) => {
      const { KartError } = await import('../../errors.ts');
      const { openReference } = await import('../../registry/open-target.ts');
      const { parseArchOption, hostOciArch } = await import('../../kernel/artifact/kernel-platform.ts');
      const { installKernel, selectKernelManifest } = await import('../../kernel/install/index.ts');
      const arch = options.arch === undefined ? hostOciArch() : parseArchOption(options.arch);
      const opened = await openReference(ref, transportOptions(options));
      try {
        if (opened.tagOrDigest === undefined) {
          throw new KartError('REFERENCE_INCOMPLETE', `${ref} names no tag or digest`, {
            hint: 'use oci:DIR:TAG',
          });
        }
        const choice = await selectKernelManifest(opened.target, opened.tagOrDigest, arch);
        const result = await installKernel({
          source: opened.target,
          manifest: choice.manifest,
          dest: options.dest,
          reference: ref,
          arch,
          ...(options.flavor === undefined ? {} : { flavor: options.flavor }),
        });
        if (options.json === true) {
          printJson({
            reference: ref,
            dest: result.dest,
            manifestDigest: result.manifestDigest,
            platform: `${result.platform.os}/${result.platform.architecture}`,
            format: result.format,
            files: result.files,
            metadata: result.metadata ?? null,
          });
          return 0;
        }
        printLine(
          `installed ${ref} (${result.platform.os}/${result.platform.architecture}, ${result.manifestDigest}) into ${result.dest}`,
        );
        for (const file of result.files)
          printLine(`  ${file.name.padEnd(16)} ${String(file.size).padStart(10)}  ${file.digest}`);
        return 0;
      } finally {
        await opened.close();
      }
    }),
  );
}
