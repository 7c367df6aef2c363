import { Readable } from 'node:stream';
import { KartError } from '../errors.ts';
import {
  BLOCK_SIZE,
  Field,
  USTAR_MAGIC,
  headerChecksum,
  paddingFor,
  signedHeaderChecksum,
} from './tar-format.ts';

/**
 * A streaming tar reader: yields one entry at a time with its body as a stream over the archive
 * itself, so no entry body is ever held in memory. Reads ustar, GNU (`L`/`K` long names) and pax
 * (`x`/`g`: path, linkpath, size, uid, gid, mtime). Damage is TAR_INVALID naming the entry and offset.
 * It takes no policy decision (which paths or types are allowed): its caller does.
 */
export type TarEntryType = 'file' | 'dir' | 'symlink' | 'hardlink' | 'char' | 'block' | 'fifo' | 'other';

export interface TarEntry {
  path: string;
  type: TarEntryType;
  /** Body bytes (0 for header-only types). */
  size: number;
  mode: number;
  linkname: string;
  uid: number;
  gid: number;
  mtime: number;
  /** The raw typeflag character, for callers that care about `other`. */
  typeflag: string;
  /** Byte offset of this entry's header in the archive. */
  offset: number;
  /** Consume (or ignore) before asking for the next entry; unread bytes are skipped then. */
  body: Readable;
}

/** Metadata records (long names, pax) are read whole; anything larger is not a real archive. */
const MAX_METADATA_BYTES = 1024 * 1024;
const BODY_CHUNK = 64 * 1024;

export interface TarReadOptions {
  /**
   * Metadata records (long names, pax, global pax) the archive may hold in all; real archives have
   * about one per entry at most. Default 100,000.
   */
  maxMetadataRecords?: number;
  /** Global pax records in all (a real archive has one or none). Default 16. */
  maxGlobalPaxRecords?: number;
}

export async function* readTar(stream: Readable, options: TarReadOptions = {}): AsyncGenerator<TarEntry> {
  const source = new ArchiveSource(stream);
  const maxMetadata = options.maxMetadataRecords ?? 100_000;
  const maxGlobal = options.maxGlobalPaxRecords ?? 16;
  let metadataRecords = 0;
  let globalRecords = 0;
  const globalPax: Record<string, string> = Object.create(null) as Record<string, string>;
  let pending: { pax: Record<string, string>; longName?: string; longLink?: string } = { pax: noKeys() };
  let current: EntryBody | undefined;
  try {
    for (;;) {
      if (current) {
        await current.skipRest();
        current = undefined;
      }
      const offset = source.offset;
      const header = await source.readExact(BLOCK_SIZE);
      if (header === undefined) {
        throw invalid(`archive ends at offset ${offset} without an end-of-archive marker`);
      }
      if (header.every((byte) => byte === 0)) {
        // End of archive is two zero blocks; a lone one at the very end is accepted (as GNU tar does).
        const second = await source.readExact(BLOCK_SIZE);
        if (second === undefined || second.every((byte) => byte === 0)) break;
        throw invalid(`a zero block at offset ${offset} is followed by data`);
      }
      const parsed = parseHeader(header, offset);
      const typeflag = parsed.typeflag;
      if (typeflag === 'L' || typeflag === 'K' || typeflag === 'x' || typeflag === 'g') {
        if (++metadataRecords > maxMetadata) {
          throw invalid(`more than ${maxMetadata} metadata records (long names, pax headers)`);
        }
        if (typeflag === 'g' && ++globalRecords > maxGlobal) {
          throw invalid(`more than ${maxGlobal} global pax headers (offset ${offset})`);
        }
        const text = await readMetadata(source, parsed.size, offset, typeflag);
        if (typeflag === 'L') pending.longName = cString(text);
        else if (typeflag === 'K') pending.longLink = cString(text);
        else if (typeflag === 'x') Object.assign(pending.pax, parsePax(text, offset));
        else Object.assign(globalPax, parsePax(text, offset));
        continue;
      }
      // The few keys an entry uses, looked up rather than merged: merging every global record into
      // every entry would cost their size times the entry count.
      const paxValue = (key: string): string | undefined => pending.pax[key] ?? globalPax[key];
      const path = paxValue('path') ?? pending.longName ?? parsed.path;
      const linkname = paxValue('linkpath') ?? pending.longLink ?? parsed.linkname;
      const type = entryType(typeflag);
      const paxSize = paxValue('size');
      const declaredSize = paxSize !== undefined ? paxNumber(paxSize, 'size', offset) : parsed.size;
      // Header-only types have no body whatever their size field says (as Go's archive/tar reads them).
      const size = HEADER_ONLY.has(type) ? 0 : declaredSize;
      const paxUid = paxValue('uid');
      const paxGid = paxValue('gid');
      const paxMtime = paxValue('mtime');
      pending = { pax: noKeys() };
      current = new EntryBody(source, size, path, offset);
      yield {
        path,
        type,
        size,
        mode: parsed.mode,
        linkname,
        uid: paxUid !== undefined ? paxNumber(paxUid, 'uid', offset) : parsed.uid,
        gid: paxGid !== undefined ? paxNumber(paxGid, 'gid', offset) : parsed.gid,
        mtime: paxMtime !== undefined ? Math.floor(Number(paxMtime)) : parsed.mtime,
        typeflag,
        offset,
        body: current.stream,
      };
    }
  } finally {
    current?.stream.destroy();
    stream.destroy();
  }
}

function noKeys(): Record<string, string> {
  return Object.create(null) as Record<string, string>;
}

const HEADER_ONLY = new Set<TarEntryType>(['dir', 'symlink', 'hardlink', 'char', 'block', 'fifo']);

function entryType(typeflag: string): TarEntryType {
  switch (typeflag) {
    case '0':
    case '\0':
    case '7':
      return 'file';
    case '1':
      return 'hardlink';
    case '2':
      return 'symlink';
    case '3':
      return 'char';
    case '4':
      return 'block';
    case '5':
      return 'dir';
    case '6':
      return 'fifo';
    default:
      return 'other';
  }
}

function invalid(message: string): KartError {
  return new KartError('TAR_INVALID', `tar archive: ${message}`, {
    hint: 'the layer is corrupt or truncated, or is not a tar archive',
  });
}

interface ParsedHeader {
  path: string;
  typeflag: string;
  size: number;
  mode: number;
  uid: number;
  gid: number;
  mtime: number;
  linkname: string;
}

function parseHeader(header: Buffer, offset: number): ParsedHeader {
  const stored = parseNumber(header, Field.checksum, offset, 'checksum');
  const computed = headerChecksum(header);
  if (stored !== computed && stored !== signedHeaderChecksum(header)) {
    const name = text(header, Field.name);
    throw invalid(
      `header at offset ${offset} (entry "${name}") has checksum ${stored}, but its bytes sum to ${computed}`,
    );
  }
  const magic = header.toString('latin1', Field.magic[0], Field.magic[0] + Field.magic[1]);
  const name = text(header, Field.name);
  // Only POSIX ustar uses the prefix field for paths; GNU keeps other data there.
  const prefix = magic === USTAR_MAGIC ? text(header, Field.prefix) : '';
  const typeflag = header.toString('latin1', Field.typeflag[0], Field.typeflag[0] + 1);
  return {
    path: prefix.length > 0 ? `${prefix}/${name}` : name,
    typeflag,
    size: parseNumber(header, Field.size, offset, 'size'),
    mode: parseNumber(header, Field.mode, offset, 'mode'),
    uid: parseNumber(header, Field.uid, offset, 'uid'),
    gid: parseNumber(header, Field.gid, offset, 'gid'),
    mtime: parseNumber(header, Field.mtime, offset, 'mtime'),
    linkname: text(header, Field.linkname),
  };
}

function text(header: Buffer, [start, length]: readonly [number, number]): string {
  const field = header.subarray(start, start + length);
  const end = field.indexOf(0);
  return field.toString('utf8', 0, end === -1 ? length : end);
}

/** Octal text (space/NUL padded), or GNU base-256 when the first byte has its high bit set. */
function parseNumber(
  header: Buffer,
  [start, length]: readonly [number, number],
  offset: number,
  what: string,
): number {
  const field = header.subarray(start, start + length);
  if ((field[0] ?? 0) & 0x80) {
    if (field[0] === 0xff) throw invalid(`header at offset ${offset}: negative ${what}`);
    let value = BigInt((field[0] ?? 0) & 0x7f);
    for (let i = 1; i < length; i++) value = (value << 8n) | BigInt(field[i] ?? 0);
    if (value > BigInt(Number.MAX_SAFE_INTEGER))
      throw invalid(`header at offset ${offset}: ${what} is too large`);
    return Number(value);
  }
  const digits = field
    .toString('latin1')
    .replace(/[\0 ]+$/, '')
    .replace(/^ +/, '');
  if (digits === '') return 0;
  if (!/^[0-7]+$/.test(digits)) {
    throw invalid(`header at offset ${offset}: ${what} field "${digits}" is not an octal number`);
  }
  return parseInt(digits, 8);
}

function cString(bytes: Buffer): string {
  const end = bytes.indexOf(0);
  return bytes.toString('utf8', 0, end === -1 ? bytes.length : end);
}

/** pax records: `<length> <key>=<value>\n`, where length counts the whole record. */
function parsePax(bytes: Buffer, offset: number): Record<string, string> {
  // No prototype: a record named `__proto__` is a key like any other.
  const records = noKeys();
  let at = 0;
  while (at < bytes.length) {
    if (bytes[at] === 0) break; // trailing NUL padding some writers leave
    const space = bytes.indexOf(0x20, at);
    const length = space === -1 ? NaN : Number(bytes.toString('latin1', at, space));
    if (
      !Number.isSafeInteger(length) ||
      length <= 0 ||
      at + length > bytes.length ||
      bytes[at + length - 1] !== 0x0a
    ) {
      throw invalid(`pax header at offset ${offset}: malformed record at byte ${at}`);
    }
    const record = bytes.toString('utf8', space + 1, at + length - 1);
    const equals = record.indexOf('=');
    if (equals <= 0) throw invalid(`pax header at offset ${offset}: record without key=value at byte ${at}`);
    records[record.slice(0, equals)] = record.slice(equals + 1);
    at += length;
  }
  return records;
}

function paxNumber(value: string, key: string, offset: number): number {
  if (!/^[0-9]+$/.test(value) || !Number.isSafeInteger(Number(value))) {
    throw invalid(`pax header before offset ${offset}: ${key}="${value}" is not a whole number`);
  }
  return Number(value);
}

async function readMetadata(
  source: ArchiveSource,
  size: number,
  offset: number,
  typeflag: string,
): Promise<Buffer> {
  if (size > MAX_METADATA_BYTES) {
    throw invalid(
      `header at offset ${offset}: a '${typeflag}' record of ${size} bytes is larger than any real one`,
    );
  }
  const body = await source.readExact(size);
  const padding = await source.readExact(paddingFor(size));
  if (body === undefined || padding === undefined) {
    throw invalid(
      `the '${typeflag}' record at offset ${offset} declares ${size} bytes, but the archive ends first`,
    );
  }
  return body;
}

/** Serialises reads of the archive so an entry's body stream and the skip-ahead never interleave. */
class ArchiveSource {
  readonly #chunks: AsyncIterator<Buffer | string>;
  #leftover: Buffer = Buffer.alloc(0);
  #ended = false;
  #queue: Promise<unknown> = Promise.resolve();
  offset = 0;

  constructor(stream: Readable) {
    this.#chunks = (stream as AsyncIterable<Buffer | string>)[Symbol.asyncIterator]();
  }

  /** Runs `op` after every earlier read finished. */
  serial<T>(op: () => Promise<T>): Promise<T> {
    const run = this.#queue.then(op, op);
    this.#queue = run.catch(() => undefined);
    return run;
  }

  /** Exactly `n` bytes (small: headers, metadata, padding), or undefined if the archive ends first. */
  readExact(n: number): Promise<Buffer | undefined> {
    return this.serial(() => this.readExactNow(n));
  }

  /** readExact for callers already inside serial(). */
  async readExactNow(n: number): Promise<Buffer | undefined> {
    const parts: Buffer[] = [];
    let have = 0;
    while (have < n) {
      const piece = await this.readNow(n - have);
      if (piece === undefined) return undefined;
      parts.push(piece);
      have += piece.length;
    }
    return parts.length === 1 ? parts[0] : Buffer.concat(parts, n);
  }

  /** Up to `max` bytes (at most one underlying chunk), or undefined at the end; only inside serial(). */
  async readNow(max: number): Promise<Buffer | undefined> {
    if (max === 0) return Buffer.alloc(0);
    while (this.#leftover.length === 0) {
      if (this.#ended) return undefined;
      const { value, done } = await this.#chunks.next();
      if (done) {
        this.#ended = true;
        return undefined;
      }
      this.#leftover = typeof value === 'string' ? Buffer.from(value) : value;
    }
    const piece = this.#leftover.subarray(0, max);
    this.#leftover = this.#leftover.subarray(piece.length);
    this.offset += piece.length;
    return piece;
  }
}

/** One entry's body: a stream that pulls exactly `size` bytes from the archive, then its padding. */
class EntryBody {
  readonly stream: Readable;
  readonly #source: ArchiveSource;
  readonly #path: string;
  readonly #offset: number;
  readonly #size: number;
  #remaining: number;
  #padded = false;

  constructor(source: ArchiveSource, size: number, path: string, offset: number) {
    this.#source = source;
    this.#size = size;
    this.#remaining = size;
    this.#path = path;
    this.#offset = offset;
    this.stream = new Readable({
      read: () => {
        this.#pull().then(
          (chunk) => this.stream.push(chunk ?? null),
          (error: unknown) => this.stream.destroy(error as Error),
        );
      },
    });
    if (size === 0) this.stream.push(null);
  }

  async #pull(): Promise<Buffer | undefined> {
    return this.#source.serial(async () => {
      if (this.#remaining === 0) return undefined;
      const chunk = await this.#source.readNow(Math.min(this.#remaining, BODY_CHUNK));
      if (chunk === undefined) throw this.#truncated();
      this.#remaining -= chunk.length;
      return chunk;
    });
  }

  /** Discards whatever the caller did not read, and the padding after it. */
  async skipRest(): Promise<void> {
    await this.#source.serial(async () => {
      while (this.#remaining > 0) {
        const chunk = await this.#source.readNow(Math.min(this.#remaining, BODY_CHUNK));
        if (chunk === undefined) throw this.#truncated();
        this.#remaining -= chunk.length;
      }
      if (!this.#padded) {
        this.#padded = true;
        const padding = await this.#source.readExactNow(paddingFor(this.#size));
        if (padding === undefined) throw this.#truncated();
      }
    });
    if (!this.stream.readableEnded) this.stream.destroy();
  }

  #truncated(): KartError {
    const read = this.#size - this.#remaining;
    return invalid(
      `entry "${this.#path}" at offset ${this.#offset} declares ${this.#size} bytes, but the archive ends after ${read}`,
    );
  }
}
