import type { Command } from 'commander';
import type { KartErrorCode } from '../../errors.ts';
import { interruptSignal } from '../interrupt.ts';
import { addQuietOption, displayFor, type QuietOption } from '../transfer-display.ts';
import type { CatalogueSummary, PublishResult } from '../../kernel/publish/index.ts';
import { addBuildOptions, packOptionsOf, parseKeyValues, type BuildFlags } from '../build-options.ts';
import { action, collect, printJson, printLine } from '../output.ts';
import { guestSourceOf, type GuestPublishFlags } from '../guest-options.ts';
import { addTransportOptions, transportOptions, type TransportFlags } from '../registry-options.ts';

interface PublishOptions extends BuildFlags, TransportFlags, QuietOption, GuestPublishFlags {
  flavor?: string;
  to?: string;
  registry?: string;
  catalogue?: string;
  tag: string[];
  alias: boolean;
  tagTemplate: string[];
  immutableTagTemplate: string[];
  templateValue: string[];
  force?: boolean;
  dryRun?: boolean;
  json?: boolean;
  signKey?: string;
}

/**
 * `kart publish BUILD --flavor F --to REGISTRY/REPO|oci:DIR` (or `--registry REGISTRY`):
 * check → pack → push → tag policy → multi-arch indexes. `--catalogue FILE` publishes a catalogue.
 */
export function register(program: Command): void {
  addTransportOptions(addBuildOptions(addQuietOption(program.command('publish'))))
    .description('check, pack and push a kernel build with the tag policy, merging arches into one index')
    .argument(
      '[build-dir]',
      'the build directory (bzImage/Image/vmlinuz*, .config/config*, lib/modules/ or addons.squashfs)',
    )
    .option(
      '--flavor <name|path>',
      'the flavor: requirements checked, KERNEL_FLAVOR, addons limit, repository',
    )
    .option('--to <REGISTRY/REPO|oci:DIR>', 'the destination repository or OCI layout directory')
    .option(
      '--registry <REGISTRY>',
      'the registry; the repository comes from the flavor (e.g. zone → zone-kernel)',
    )
    .option(
      '--catalogue <file>',
      'publish every entry of a kernels/ catalogue, in order, stopping at the first failure',
    )
    .option('--tag <tag>', 'an extra tag (repeatable)', collect, [])
    .option('--no-alias', 'do not set the moving aliases MAJOR.MINOR, MAJOR, latest')
    .option(
      '--tag-template <template>',
      'another tag from a template, e.g. {version}-{configVersion} (repeatable)',
      collect,
      [],
    )
    .option(
      '--immutable-tag-template <template>',
      'like --tag-template, but the tag may never move to other content (LinuxKit: {version}-{hash})',
      collect,
      [],
    )
    .option('--template-value <name=value>', 'a value for a template placeholder (repeatable)', collect, [])
    .option('--rootfs <image>', 'a Kata guest bundle: publish this rootfs image with the kernel')
    .option(
      '--rootfs-dir <dir>',
      'a Kata guest bundle: build the image from DIR (DAX, dm-verity) and publish it',
    )
    .option('--rootfs-align <MiB>', 'with --rootfs-dir: the image size multiple (default 128)')
    .option(
      '--verity-params <line|@file>',
      "with --rootfs: the image's kernel_verity_params, checked before publishing",
    )
    .option('--force', 'move an immutable V-<config12> tag to other content')
    .option('--dry-run', 'print the plan (blobs to upload, tags to create or move) and change nothing')
    .option(
      '--sign-key <pem>',
      'sign every manifest and index written (cosign 3 bundles) with this P-256 key',
    )
    .option('--json', 'print the result as JSON')
    .action(
      action(async (buildDir: string | undefined, options: PublishOptions) => {
        const { KartError } = await import('../../errors.ts');
        const usage = (code: KartErrorCode, message: string, hint: string) =>
          new KartError(code, message, { exitCode: 2, hint });
        const templateValues = parseKeyValues(options.templateValue, '--template-value');
        const display = displayFor(options);
        const progress = (message: string): void => display?.log(`kart: ${message}`);
        const common = {
          ...(options.to === undefined ? {} : { to: options.to }),
          ...(options.registry === undefined ? {} : { registry: options.registry }),
          // The build's own flags (kernel, config, ...) are refused with --catalogue below.
          ...packOptionsOf(options),
          template: [
            ...options.tagTemplate,
            ...options.immutableTagTemplate.map((template) => ({ template, immutable: true })),
          ],
          templateValues,
          force: options.force === true,
          dryRun: options.dryRun === true,
          onProgress: progress,
          ...(options.signKey === undefined
            ? {}
            : { signKey: await (await import('../key-password.ts')).readCliSigningKey(options.signKey) }),
          signal: interruptSignal(),
          ...(display === undefined ? {} : { onTransfer: display.onTransfer }),
          // A registry destination is reached with the transport flags; a layout ignores them.
          target: transportOptions(options),
        } as const;
        const publish = await import('../../kernel/publish/index.ts');

        if (options.catalogue !== undefined) {
          if (options.rootfs !== undefined || options.rootfsDir !== undefined) {
            throw usage(
              'PUBLISH_CATALOGUE_CONFLICT',
              '--rootfs/--rootfs-dir publish one build, not a catalogue',
              'publish the bundle on its own',
            );
          }
          const perBuild = ['flavor', 'kernel', 'config', 'addons', 'modules', 'version', 'arch'] as const;
          const clash = perBuild.filter((name) => options[name] !== undefined);
          if (buildDir !== undefined || clash.length > 0 || options.tag.length > 0 || !options.alias) {
            throw usage(
              'PUBLISH_CATALOGUE_CONFLICT',
              `--catalogue takes builds, flavors, versions, arches and tags from the catalogue, yet ${[
                ...(buildDir === undefined ? [] : ['a build directory']),
                ...clash.map((name) => `--${name}`),
                ...(options.tag.length > 0 ? ['--tag'] : []),
                ...(options.alias ? [] : ['--no-alias']),
              ].join(', ')} was given`,
              'drop them, or set them in the catalogue entry (tags = …, aliases = no)',
            );
          }
          const summary = await publish
            .publishCatalogue(options.catalogue, {
              ...common,
              onJob: (job, i, total) =>
                progress(`[${i + 1}/${total}] ${job.version} ${job.flavor} ${job.arch} (${job.origin})`),
            })
            .finally(() => display?.finish());
          if (options.json === true) printJson(catalogueJson(summary));
          else for (const line of catalogueText(summary)) printLine(line);
          const failure = summary.outcomes.find((o) => o.status === 'failed');
          if (failure === undefined) return 0;
          const error = failure.error;
          return error instanceof KartError ? error.exitCode : 2;
        }

        if (buildDir === undefined && options.kernel === undefined) {
          throw usage(
            'PUBLISH_BUILD_MISSING',
            'no build to publish',
            'give the build directory (or --kernel and --config), or --catalogue FILE',
          );
        }
        if (options.flavor === undefined) {
          throw usage(
            'PUBLISH_FLAVOR_MISSING',
            'kart publish needs --flavor',
            'name a shipped flavor (kart flavors lists them) or a flavor file',
          );
        }
        const result = await publish
          .publishKernel({
            ...common,
            ...(buildDir === undefined ? {} : { buildDir }),
            flavor: options.flavor,
            tags: options.tag,
            noAlias: !options.alias,
            ...(await guestSourceOf(options, common.sourceDateEpoch)),
          })
          .finally(() => display?.finish());
        if (options.json === true) printJson(resultJson(result));
        else for (const line of resultText(result)) printLine(line);
        return 0;
      }),
    );
}

function short(digest: string | undefined): string {
  return digest === undefined ? '(none)' : digest.replace(/^sha256:/, '').slice(0, 12);
}

export function resultText(r: PublishResult): string[] {
  const lines: string[] = [];
  const head = r.dryRun ? 'plan (dry run, nothing written)' : r.unchanged ? 'unchanged' : 'published';
  lines.push(`${head}: ${r.version} ${r.platform} flavor ${r.flavor} → ${r.destination}`);
  lines.push(`manifest ${r.manifest.digest} (${r.manifest.size} bytes)`);
  for (const b of r.blobs) {
    const verb = b.action === 'present' ? 'present' : r.dryRun ? 'upload ' : 'pushed ';
    lines.push(`  ${verb} ${b.what.padEnd(22)} ${String(b.size).padStart(10)} bytes  ${b.digest}`);
  }
  for (const t of r.tags) {
    const label = `${t.tag}${t.immutable ? ' (immutable)' : ''}`;
    const change =
      t.action === 'unchanged'
        ? `unchanged ${short(t.next)}`
        : t.action === 'create'
          ? `${r.dryRun ? 'create' : 'created'} → ${short(t.next)}`
          : `${r.dryRun ? 'move' : 'moved'} ${short(t.previous)} → ${short(t.next)}`;
    lines.push(`  tag ${label.padEnd(28)} ${change}  [${t.platforms.join(', ')}]`);
  }
  for (const s of r.signatures ?? []) {
    lines.push(
      `  signature ${short(s.subject.digest)} ${s.action === 'signed' ? 'signed ' : 'present'} ${s.signature.digest}`,
    );
  }
  const uploaded = r.blobs.filter((b) => b.action === 'upload');
  lines.push(
    `${uploaded.length} blob(s), ${r.uploadBytes} bytes ${r.dryRun ? 'to upload' : 'uploaded'}; ${
      r.tags.filter((t) => t.action !== 'unchanged').length
    } tag(s) ${r.dryRun ? 'to set' : 'set'}`,
  );
  return lines;
}

export function resultJson(r: PublishResult): unknown {
  return {
    ...r,
    tags: r.tags.map((t) => ({ ...t, previous: t.previous ?? null })),
  };
}

function catalogueText(s: CatalogueSummary): string[] {
  const lines: string[] = [];
  for (const o of s.outcomes) {
    if (o.status === 'published') lines.push(...resultText(o.result));
    if (o.status === 'failed') {
      const message = o.error instanceof Error ? o.error.message : String(o.error);
      lines.push(`FAILED ${o.job.version} ${o.job.flavor} ${o.job.arch} (${o.job.origin}): ${message}`);
    }
  }
  const count = (status: string) => s.outcomes.filter((o) => o.status === status).length;
  lines.push(
    `summary of ${s.catalogue}: ${count('published')} published, ${count('failed')} failed, ${count('skipped')} not tried`,
  );
  for (const o of s.outcomes) {
    const what = `${o.job.version} ${o.job.flavor} ${o.job.arch} (${o.job.origin})`;
    const state =
      o.status === 'published'
        ? o.result.unchanged
          ? 'unchanged'
          : o.result.dryRun
            ? 'planned'
            : 'published'
        : o.status === 'failed'
          ? 'FAILED'
          : 'not tried';
    lines.push(`  ${state.padEnd(10)} ${what}`);
  }
  return lines;
}

function catalogueJson(s: CatalogueSummary): unknown {
  return {
    catalogue: s.catalogue,
    ok: s.ok,
    jobs: s.outcomes.map((o) => ({
      version: o.job.version,
      flavor: o.job.flavor,
      arch: o.job.arch,
      origin: o.job.origin,
      status: o.status,
      ...(o.status === 'published' ? { result: resultJson(o.result) } : {}),
      ...(o.status === 'failed'
        ? {
            error:
              o.error !== null &&
              typeof o.error === 'object' &&
              'toJSON' in o.error &&
              typeof o.error.toJSON === 'function'
                ? (o.error.toJSON as () => unknown)()
                : { code: 'INTERNAL', message: o.error instanceof Error ? o.error.message : String(o.error) },
          }
        : {}),
    })),
  };
}
