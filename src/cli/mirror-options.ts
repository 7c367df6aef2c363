import type { Command } from 'commander';
import { collect } from './output.ts';

/**
 * The flags of the commands that pull (pull, pull -k, copy, inspect): where mirrors come from. They
 * become the registry room's `sources` option; pushes never read them.
 */
export interface MirrorFlags {
  registriesConf?: string;
  mirror?: string[];
  tagFromMirror?: boolean;
}

export function addMirrorOptions(command: Command): Command {
  return command
    .option(
      '--registries-conf <file>',
      "read mirrors from this registries.conf instead of containers' (/etc/containers/registries.conf, ~/.config/containers/registries.conf)",
    )
    .option(
      '--mirror <host[/path]>',
      'pull through this mirror first (repeatable, tried in order, then registries.conf mirrors, then the upstream)',
      collect,
      [],
    )
    .option(
      '--tag-from-mirror',
      'when the upstream cannot be reached, let a mirror say what the tag names (the output says so)',
    );
}

/** The flags as `OpenTargetOptions.sources`; skipped sources are reported on stderr as they happen. */
export function mirrorSources(flags: MirrorFlags) {
  return {
    ...(flags.registriesConf === undefined ? {} : { registriesConf: { file: flags.registriesConf } }),
    mirrors: flags.mirror ?? [],
    tagFromMirror: flags.tagFromMirror === true,
    onSourceSkipped: (skip: { source: string; reason: string }) => {
      process.stderr.write(`kart: skipping ${skip.source} for the rest of this pull: ${skip.reason}\n`);
    },
  };
}
