import { KartError } from '../errors.ts';

/** The layout's own errors for OS failures and for a directory that is not a layout. */
const PERMISSION_CODES = new Set(['EACCES', 'EPERM', 'EROFS', 'ENOSPC', 'EDQUOT']);

/** OS errors while writing: LAYOUT_UNWRITABLE naming the path and the OS reason (exit 2). */
export function unwritableOrInvalid(path: string, error: NodeJS.ErrnoException, what: string): KartError {
  if (error instanceof KartError) return error;
  const reason = error.code ? `${error.code}: ${osReason(error)}` : String(error.message);
  if (error.code !== undefined && (PERMISSION_CODES.has(error.code) || error.code === 'ENOTDIR')) {
    return new KartError('LAYOUT_UNWRITABLE', `${path}: ${what} (${reason})`, {
      hint: 'choose a directory you can write to, or fix its permissions or free space',
      cause: error,
      details: { path, reason: error.code },
    });
  }
  return new KartError('LAYOUT_IO_FAILED', `${path}: ${what} (${reason})`, {
    cause: error,
    details: { path },
  });
}

function osReason(error: NodeJS.ErrnoException): string {
  // Node messages read "EACCES: permission denied, open '/x'": keep the middle part.
  const match = /^[A-Z]+: ([^,]+)/.exec(error.message);
  return match?.[1] ?? error.message;
}

export function notALayout(root: string, creating: boolean): KartError {
  return new KartError('LAYOUT_INVALID', `${root} is not an OCI image layout: it has no oci-layout file`, {
    hint: creating
      ? 'choose an empty or new directory for a new layout'
      : 'give the path of a layout directory (it holds oci-layout, index.json and blobs/)',
  });
}
