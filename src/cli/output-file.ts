import { writeFileAtomic } from '../oci/atomic-file.ts';
import { KartError } from '../errors.ts';

/**
 * Where a command writes a file the user named (-o FILE, --output-dir): `-` is stdout; anything else
 * is replaced atomically (through a symlink; never over a device, FIFO or socket). The ordinary ways a
 * path is wrong (its directory is missing, a file stands where a directory belongs, no permission)
 * are input errors naming the path, not failures of kart.
 */
export async function writeOutputFile(path: string, text: string): Promise<void> {
  if (path === '-') {
    process.stdout.write(text);
    return;
  }
  await writeFileAtomic(path, text).catch((error: unknown) => {
    throw outputPathError(path, error);
  });
}

const PATH_ERRORS: Record<string, string> = {
  ENOENT: 'its directory does not exist',
  ENOTDIR: 'a part of it that should be a directory is a file',
  EISDIR: 'it is a directory',
  EEXIST: 'a file stands where a directory belongs',
  EACCES: 'permission denied',
  EPERM: 'permission denied',
  EROFS: 'the filesystem is read-only',
  ENOSPC: 'no space left on the device',
};

/** An errno failure on a path the user gave → OUTPUT_UNWRITABLE (exit 2); anything else unchanged. */
export function outputPathError(path: string, error: unknown): unknown {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  if (error instanceof KartError || code === undefined || PATH_ERRORS[code] === undefined) return error;
  return new KartError('OUTPUT_UNWRITABLE', `cannot write ${path}: ${PATH_ERRORS[code]}`, {
    exitCode: 2,
    hint: 'choose a path in an existing, writable directory (or - for stdout)',
    details: { path },
    cause: error,
  });
}
