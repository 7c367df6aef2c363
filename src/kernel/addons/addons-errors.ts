import { KartError, type KartErrorCode } from '../../errors.ts';

// Errors about the addons image and the modules tree it is built from; all are input errors (exit 2).

export function addonsUnreadable(path: string, cause: unknown): KartError {
  const code = (cause as NodeJS.ErrnoException | undefined)?.code;
  if (code === 'ENOENT') {
    return new KartError('ADDONS_NOT_FOUND', `addons image ${path} does not exist`, {
      hint: 'check the path of --addons',
      cause,
    });
  }
  return new KartError('ADDONS_UNREADABLE', `cannot read addons image ${path}: ${code ?? String(cause)}`, {
    hint: 'the addons image must be a readable regular file',
    cause,
  });
}

export function addonsNotSquashfs(path: string, found: string): KartError {
  return new KartError(
    'ADDONS_NOT_SQUASHFS',
    `addons image ${path} is not a squashfs image: expected the magic "hsqs" at byte 0, ${found}`,
    { hint: 'pass a squashfs built by mksquashfs, or pass --modules DIR and kart builds it' },
  );
}

export function addonsInvalid(path: string, code: KartErrorCode, problem: string): KartError {
  return new KartError(code, `addons image ${path}: ${problem}`, {
    hint: 'rebuild it with mksquashfs (squashfs 4.0, gzip/lzo/lz4/xz/zstd/lzma) or pass --modules DIR',
  });
}

export function modulesTreeError(code: KartErrorCode, message: string, hint: string): KartError {
  return new KartError(code, message, { hint });
}

export function mksquashfsMissing(command: string, cause: unknown): KartError {
  return new KartError(
    'ADDONS_MKSQUASHFS_MISSING',
    `cannot run ${command}: it is not installed (kart needs it to pack a modules tree into addons.squashfs)`,
    { hint: 'install the Debian package squashfs-tools: apt-get install -y squashfs-tools', cause },
  );
}

export function mksquashfsFailed(command: string, status: string, stderr: string): KartError {
  return new KartError(
    'ADDONS_MKSQUASHFS_FAILED',
    `${command} failed (${status}): ${stderr.trim() || 'no output'}`,
    {
      hint: "see mksquashfs's message above; check the modules tree is readable and the output directory has space",
    },
  );
}
