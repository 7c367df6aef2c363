import type { Command } from 'commander';
import type { TrustPolicy } from '../../signature/trust-policy.ts';
import { addMirrorOptions, mirrorSources, type MirrorFlags } from '../mirror-options.ts';
import { action, collect, printJson, printLine } from '../output.ts';
import { addRegistryOptions, targetOptions, type RegistryCliOptions } from '../registry-options.ts';
import { runCopy } from './copy.ts';
import { interruptSignal } from '../interrupt.ts';
import { addQuietOption, displayFor, type QuietOption } from '../transfer-display.ts';
import { guestLines } from '../guest-options.ts';

interface PullCliOptions extends RegistryCliOptions, QuietOption, MirrorFlags {
  kernel?: string;
  dest?: string;
  arch?: string;
  flavor?: string;
  cache?: string;
  offline?: boolean;
  verifyInstalled?: boolean;
  adopt?: boolean;
  verifyKey: string[];
  verifyPolicy?: string;
}

/**
 * Two forms: `kart pull REF oci:DIR[:TAG]` copies an image from a registry (or a layout) into a layout;
 * `kart pull -k REF --dest DIR` installs one platform's kernel through the cache (zone launchers).
 */
export function register(program: Command): void {
  addRegistryOptions(
    addMirrorOptions(
      addQuietOption(program.command('pull'))
        .description(
          'pull a kernel into a directory (-k REF --dest DIR, through the cache), or copy an image into an OCI layout (REF oci:DIR:TAG)',
        )
        .argument('[ref]', '[HOST/]REPO:TAG, [HOST/]REPO@DIGEST or oci:DIR:TAG (copy form)')
        .argument(
          '[layout]',
          'oci:DIR[:TAG] (copy form; created when missing; tag defaults to the source tag)',
        )
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
        .option(
          '--adopt',
          'with -k: a populated DEST kart did not make (e.g. /var/lib/krata/zone) is moved aside, kept, and named',
        )
        .option(
          '--verify-key <pem>',
          'with -k: install only a kernel whose cosign signature verifies with this public key (repeatable)',
          collect,
          [],
        )
        .option(
          '--verify-policy <json>',
          'with -k: like --verify-key, with the keys (or keyless identity) the policy file names for the repository',
        )
        .option('--referrers', 'copy form: also copy artifacts attached to the image')
        .option('--concurrency <n>', 'copy form: blobs downloaded at once', '4'),
    ),
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
      const kernelOnly = kernelOnlyFlags(options);
      if (kernelOnly.length > 0) {
        // Copying an image checks no signature and installs nothing: ignoring these would let a
        // caller believe the copy was verified.
        throw new KartError(
          'PULL_USAGE',
          `${kernelOnly.join(', ')}: only with -k, not when copying into a layout`,
          {
            hint: 'install a kernel with kart pull -k REF --dest DIR [options]; check a copy with kart verify oci:DIR:TAG --key PUB',
          },
        );
      }
      await runCopy(ref, layout, options);
    }),
  );
}

/** The options given that only the -k form reads (Commander has no per-form option sets). */
function kernelOnlyFlags(options: PullCliOptions): string[] {
  const given: [string, boolean][] = [
    ['--dest', options.dest !== undefined],
    ['--arch', options.arch !== undefined],
    ['--flavor', options.flavor !== undefined],
    ['--cache', options.cache !== undefined],
    ['--offline', options.offline === true],
    ['--verify-installed', options.verifyInstalled === true],
    ['--adopt', options.adopt === true],
    ['--verify-key', options.verifyKey.length > 0],
    ['--verify-policy', options.verifyPolicy !== undefined],
  ];
  return given.filter(([, set]) => set).map(([flag]) => flag);
}

async function pullKernelCommand(ref: string, dest: string, options: PullCliOptions): Promise<number> {
  const { pullKernel } = await import('../../kernel/pull/index.ts');
  const { parseArchOption } = await import('../../kernel/artifact/kernel-platform.ts');
  const target = await targetOptions({ ...options, concurrency: undefined });
  const display = displayFor(options);
  const result = await pullKernel({
    signal: interruptSignal(),
    ...(display === undefined ? {} : { onTransfer: display.onTransfer }),
    reference: ref,
    dest,
    target: { ...target, sources: mirrorSources(options) },
    offline: options.offline === true,
    verifyInstalled: options.verifyInstalled === true,
    ...(options.arch === undefined ? {} : { arch: parseArchOption(options.arch) }),
    ...(options.flavor === undefined ? {} : { flavor: options.flavor }),
    ...(options.cache === undefined ? {} : { cacheDir: options.cache }),
    ...(options.adopt === true ? { adopt: true } : {}),
    ...(await verifyOption(ref, options)),
  }).finally(() => display?.finish());
  for (const notice of result.notices) process.stderr.write(`kart: warning: ${notice}\n`);
  if (options.json === true) {
    printJson(result);
    return 0;
  }
  if (result.adopted !== undefined) printLine(`moved what was in ${dest} aside to ${result.adopted}`);
  printLine(
    `${result.installed ? 'installed' : 'unchanged'} ${result.reference} (${result.platform}, ${result.manifestDigest}) in ${result.dest}`,
  );
  if (result.signature !== undefined) {
    const { signer } = result.signature;
    const by = signer.kind === 'key' ? `key ${signer.key}` : `${signer.identity} via ${signer.issuer}`;
    printLine(`  signature ${result.signature.signature.digest} (${result.signature.source}) by ${by}`);
  }
  const resolution = result.sources?.tagResolution;
  if (resolution !== undefined) {
    printLine(
      `  tag ${resolution.tag} resolved at the mirror ${resolution.source}, not the upstream (${resolution.upstreamError})`,
    );
  }
  for (const file of result.files) {
    printLine(
      `  ${file.name.padEnd(16)} ${String(file.size).padStart(10)}  ${file.digest}${file.fromCache ? '  (cache)' : ''}`,
    );
  }
  for (const line of guestLines(result.guest)) printLine(line);
  return 0;
}

/** --verify-key and --verify-policy as pullKernel's `verify` (the policy's keys and the flags' together). */
async function verifyOption(ref: string, options: PullCliOptions): Promise<{ verify?: TrustPolicy }> {
  if (options.verifyPolicy === undefined) {
    return options.verifyKey.length === 0 ? {} : { verify: { keys: options.verifyKey } };
  }
  const { readPolicyFile } = await import('../../signature/policy-file.ts');
  const policy = (await readPolicyFile(options.verifyPolicy))(ref);
  return { verify: { ...policy, keys: [...(policy.keys ?? []), ...options.verifyKey] } };
}
