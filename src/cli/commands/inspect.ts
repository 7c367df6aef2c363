import type { Command } from 'commander';
import { addMirrorOptions, mirrorSources, type MirrorFlags } from '../mirror-options.ts';
import { action, printJson, printLine } from '../output.ts';
import { addTransportOptions, transportOptions, type TransportFlags } from '../registry-options.ts';

/** `kart inspect REF`: platforms, manifest digests, files, metadata and annotations of a kernel image. */
export function register(program: Command): void {
  addTransportOptions(
    addMirrorOptions(
      program
        .command('inspect')
        .description(
          'show what a kernel image holds: platforms, files with sizes and digests, metadata, annotations',
        )
        .argument('<ref>', 'oci:DIR:TAG, oci:DIR@DIGEST, a registry reference, or a kernel image file')
        .option('--json', 'print the result as JSON'),
    ),
  ).action(
    action(async (ref: string, options: TransportFlags & MirrorFlags & { json?: boolean }) => {
      const { printKernelImageFile } = await import('../inspect-image-file.ts');
      if (await printKernelImageFile(ref, options.json === true)) return 0;
      const { KartError } = await import('../../errors.ts');
      const { openReference } = await import('../../registry/open-target.ts');
      const { inspectKernelArtifact } = await import('../../kernel/artifact/inspect-artifact.ts');
      const opened = await openReference(ref, {
        ...transportOptions(options),
        sources: mirrorSources(options),
      });
      try {
        if (opened.tagOrDigest === undefined) {
          throw new KartError('REFERENCE_INCOMPLETE', `${ref} names no tag or digest`, {
            hint: 'add :TAG or @DIGEST',
          });
        }
        const result = await inspectKernelArtifact(opened.target, opened.tagOrDigest);
        if (options.json === true) {
          printJson(result);
          return 0;
        }
        printLine(`${ref} -> ${result.root.digest} (${result.root.mediaType})`);
        for (const platform of result.platforms) {
          printLine(`${platform.platform}: manifest ${platform.manifest.digest}`);
          for (const file of platform.files) {
            printLine(`  ${file.path.padEnd(24)} ${String(file.size).padStart(10)}  ${file.digest}`);
          }
          if (platform.metadata !== undefined) {
            const m = platform.metadata;
            printLine(
              `  metadata: KERNEL_ARCH=${m.arch} KERNEL_VERSION=${m.version} KERNEL_UNAME_R=${m.unameRelease ?? ''} KERNEL_FLAVOR=${m.flavor}`,
            );
            printLine(
              `            KERNEL_CONFIG=${m.configDigest}${m.tags === undefined ? '' : ` KERNEL_TAGS=${m.tags.join(',')}`}`,
            );
          }
          for (const [key, value] of Object.entries(platform.annotations)) printLine(`  ${key}=${value}`);
        }
        return 0;
      } finally {
        await opened.close();
      }
    }),
  );
}
