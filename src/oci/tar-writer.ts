import { createReadStream } from 'node:fs';
import { Readable } from 'node:stream';
import { KartError } from '../errors.ts';
import { BLOCK_SIZE, Field, USTAR_MAGIC, headerChecksum, paddingFor } from './tar-format.ts';

/**
 * Deterministic tar layers: a POSIX ustar stream produced as the consumer reads, so a file is never
 * held in memory. The same entries and mtime always give the same bytes (and so the same digest):
 * owner 0/0 with empty user/group names (GNU tar lists them as `0/0`), fixed modes, fixed mtime,
 * each file preceded by the directory entries of its parents.
 */
export interface TarFileEntry {
  /** Relative path with `/` separators, e.g. `kernel/image` (no `./`, no `..`, no leading `/`). */
  path: string;
  /** Exact byte count, known up front (from stat); the stream fails if the content differs. */
  size: number;
  /** A file to read, or a factory that opens the content stream when the writer reaches it. */
  source: string | (() => Readable);
  /** Defaults to 0o644. */
  mode?: number;
}

export interface TarLayerOptions {
  /** Seconds since the epoch for every entry: SOURCE_DATE_EPOCH, else 0. */
  mtime: number;
}

export const TAR_FILE_MODE = 0o644;
export const TAR_DIR_MODE = 0o755;

/** Octal digits fit up to 8 GiB - 1 in the 12-byte size field; larger sizes use GNU base-256. */
const MAX_OCTAL_SIZE = 8 ** 11 - 1;

export function tarLayer(entries: readonly TarFileEntry[], options: TarLayerOptions): Readable {
  // Validate everything before the first byte goes out, so a bad call fails at once, not mid-stream.
  if (!Number.isSafeInteger(options.mtime) || options.mtime < 0 || options.mtime > MAX_OCTAL_SIZE) {
    throw new KartError(
      'TAR_MTIME_INVALID',
      `tar mtime ${options.mtime} is not a non-negative whole second`,
      {
        hint: 'set SOURCE_DATE_EPOCH to a Unix timestamp in seconds, or leave it unset for 0',
      },
    );
  }
  const seen = new Set<string>();
  for (const entry of entries) {
    checkEntryPath(entry.path);
    if (!Number.isSafeInteger(entry.size) || entry.size < 0) {
      throw new KartError(
        'TAR_ENTRY_INVALID',
        `tar entry ${entry.path}: size ${entry.size} is not a byte count`,
      );
    }
    if (seen.has(entry.path)) {
      throw new KartError('TAR_ENTRY_INVALID', `tar entry ${entry.path} is listed twice`, {
        hint: 'each path may appear once in a layer',
      });
    }
    seen.add(entry.path);
    splitPath(entry.path);
    for (const dir of parentDirectories(entry.path)) splitPath(`${dir}/`);
  }
  return Readable.from(generateTar(entries, options.mtime), { objectMode: false });
}

async function* generateTar(entries: readonly TarFileEntry[], mtime: number): AsyncGenerator<Buffer> {
  const directoriesWritten = new Set<string>();
  for (const entry of entries) {
    for (const dir of parentDirectories(entry.path)) {
      if (directoriesWritten.has(dir)) continue;
      directoriesWritten.add(dir);
      yield ustarHeader({ path: `${dir}/`, type: '5', size: 0, mode: TAR_DIR_MODE, mtime });
    }
    yield ustarHeader({
      path: entry.path,
      type: '0',
      size: entry.size,
      mode: entry.mode ?? TAR_FILE_MODE,
      mtime,
    });
    const content = typeof entry.source === 'string' ? createReadStream(entry.source) : entry.source();
    let written = 0;
    try {
      for await (const chunk of content as AsyncIterable<Buffer | string>) {
        const bytes = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
        written += bytes.length;
        if (written > entry.size) throw sizeChanged(entry, `more than ${entry.size}`);
        yield bytes;
      }
    } catch (error) {
      content.destroy();
      if (error instanceof KartError) throw error;
      throw new KartError(
        'TAR_SOURCE_UNREADABLE',
        `tar entry ${entry.path}: cannot read its content: ${reason(error)}`,
        {
          cause: error,
          hint:
            typeof entry.source === 'string'
              ? `check that ${entry.source} exists and is readable`
              : undefined,
        },
      );
    }
    if (written !== entry.size) throw sizeChanged(entry, String(written));
    const pad = paddingFor(entry.size);
    if (pad > 0) yield Buffer.alloc(pad);
  }
  // End of archive: two zero blocks.
  yield Buffer.alloc(2 * BLOCK_SIZE);
}

function sizeChanged(entry: TarFileEntry, actual: string): KartError {
  return new KartError(
    'TAR_SOURCE_CHANGED',
    `tar entry ${entry.path}: content is ${actual} bytes, but ${entry.size} were announced`,
    { hint: 'the file changed while it was being packed; pack again when nothing writes to it' },
  );
}

function reason(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** `a/b/c` → [`a`, `a/b`]. */
function parentDirectories(path: string): string[] {
  const parts = path.split('/');
  const dirs: string[] = [];
  for (let i = 1; i < parts.length; i++) dirs.push(parts.slice(0, i).join('/'));
  return dirs;
}

function checkEntryPath(path: string): void {
  const parts = path.split('/');
  const bad =
    path.length === 0 ||
    path.startsWith('/') ||
    path.includes('\0') ||
    path.includes('\\') ||
    parts.some((part) => part === '' || part === '.' || part === '..');
  if (bad) {
    throw new KartError('TAR_PATH_INVALID', `tar entry path "${path}" is not a clean relative path`, {
      hint: 'use a relative path with "/" separators and no empty, "." or ".." parts, e.g. kernel/image',
    });
  }
}

interface HeaderFields {
  path: string;
  type: '0' | '5';
  size: number;
  mode: number;
  mtime: number;
}

function ustarHeader(fields: HeaderFields): Buffer {
  const header = Buffer.alloc(BLOCK_SIZE);
  const [name, prefix] = splitPath(fields.path);
  writeText(header, Field.name, name);
  writeOctal(header, Field.mode, fields.mode);
  writeOctal(header, Field.uid, 0);
  writeOctal(header, Field.gid, 0);
  if (fields.size > MAX_OCTAL_SIZE) writeBase256(header, Field.size, fields.size);
  else writeOctal(header, Field.size, fields.size);
  writeOctal(header, Field.mtime, fields.mtime);
  writeText(header, Field.typeflag, fields.type);
  writeText(header, Field.magic, USTAR_MAGIC);
  writeText(header, Field.version, '00');
  // uname/gname stay empty: listings then show the numeric owner 0/0, whatever the host's user names.
  writeOctal(header, Field.devmajor, 0);
  writeOctal(header, Field.devminor, 0);
  writeText(header, Field.prefix, prefix);
  // Six octal digits, NUL, space: the traditional form every reader accepts.
  const checksum = headerChecksum(header).toString(8).padStart(6, '0');
  header.write(`${checksum}\0 `, Field.checksum[0], 'latin1');
  return header;
}

/**
 * Fits a path into name (100) and prefix (155), split at a `/`, or fails clearly. A directory keeps
 * its trailing `/` when it fits and drops it when only that makes the split work (typeflag 5 says it).
 */
function splitPath(path: string): [string, string] {
  const bytes = Buffer.byteLength(path);
  if (bytes <= Field.name[1]) return [path, ''];
  if (path.endsWith('/')) {
    const [name, prefix] = splitPath(path.slice(0, -1));
    return Buffer.byteLength(name) < Field.name[1] ? [`${name}/`, prefix] : [name, prefix];
  }
  // The split slash itself is not stored; try the rightmost slash that leaves a short enough name.
  for (let i = path.length - 1; i > 0; i--) {
    if (path[i] !== '/') continue;
    const prefix = path.slice(0, i);
    const name = path.slice(i + 1);
    if (Buffer.byteLength(name) > Field.name[1]) break;
    if (name.length > 0 && Buffer.byteLength(prefix) <= Field.prefix[1]) return [name, prefix];
  }
  throw new KartError(
    'TAR_PATH_TOO_LONG',
    `tar entry path "${path}" is too long for a ustar header (${bytes} bytes)`,
    {
      hint: 'ustar holds paths up to 255 bytes split at a "/" (155 + 100); use a shorter path',
    },
  );
}

function writeText(header: Buffer, [offset, length]: readonly [number, number], value: string): void {
  const bytes = Buffer.from(value, 'utf8');
  if (bytes.length > length) throw new Error(`tar header field overflow: "${value}" > ${length} bytes`);
  bytes.copy(header, offset);
}

/** Zero-padded octal digits followed by a NUL, filling the field. */
function writeOctal(header: Buffer, [offset, length]: readonly [number, number], value: number): void {
  header.write(`${value.toString(8).padStart(length - 1, '0')}\0`, offset, 'latin1');
}

/** GNU base-256: the first byte 0x80, then the value big-endian. */
function writeBase256(header: Buffer, [offset, length]: readonly [number, number], value: number): void {
  let rest = BigInt(value);
  for (let i = offset + length - 1; i > offset; i--) {
    header[i] = Number(rest & 0xffn);
    rest >>= 8n;
  }
  header[offset] = 0x80;
}
