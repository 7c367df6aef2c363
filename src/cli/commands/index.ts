import type { Command } from 'commander';
import { register as checkCommand } from './check.ts';
import { register as auditCommand } from './audit.ts';
import { register as flavorsCommand } from './flavors.ts';
import { register as configCommand } from './config.ts';
import { register as packCommand } from './pack.ts';
import { register as unpackCommand } from './unpack.ts';
import { register as inspectCommand } from './inspect.ts';
import { register as publishCommand } from './publish.ts';
import { register as pushCommand } from './push.ts';
import { register as pullCommand } from './pull.ts';
import { register as copyCommand } from './copy.ts';
import { register as tagCommand } from './tag.ts';
import { register as tagsCommand } from './tags.ts';
import { register as resolveCommand } from './resolve.ts';
import { register as loginCommand } from './login.ts';
import { register as logoutCommand } from './logout.ts';
import { register as cacheCommand } from './cache.ts';
import { register as signCommand } from './sign.ts';
import { register as verifyCommand } from './verify.ts';
import { register as keyCommand } from './key.ts';
import { register as verityCommand } from './verity.ts';
import { register as rootfsCommand } from './rootfs.ts';

/** Every command, in the order `kart --help` lists them. */
export const COMMANDS: ReadonlyArray<(program: Command) => void> = [
  checkCommand,
  auditCommand,
  flavorsCommand,
  configCommand,
  packCommand,
  unpackCommand,
  inspectCommand,
  publishCommand,
  pushCommand,
  pullCommand,
  copyCommand,
  tagCommand,
  tagsCommand,
  resolveCommand,
  loginCommand,
  logoutCommand,
  cacheCommand,
  signCommand,
  verifyCommand,
  keyCommand,
  verityCommand,
  rootfsCommand,
];
