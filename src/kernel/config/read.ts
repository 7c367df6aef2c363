import { open } from 'node:fs/promises';
import { Readable } from 'node:stream';
import { createGunzip } from 'node:zlib';
import { TextDecoder } from 'node:util';
import type { KernelConfigWithLines } from './types.ts';
import { parseKernelConfig } from './parse.ts';
import { configEmpty, configInvalid, configUnreadable } from './errors.ts';

/** A .config is a few hundred KB; anything this large is some other file, and we stop reading it. */
export const MAX_CONFIG_BYTES = 32 * 1024 * 1024;

export interface ReadKernelConfigOptions {
  /** where `-` reads from; process.stdin unless a caller (a test) passes another stream */
  stdin?: Readable;
  /**
   * The input must be a whole kernel config, not a fragment: one that sets no `CONFIG_` symbol is
   * refused (CONFIG_EMPTY). A check of an empty input would otherwise report every requirement
   * "absent" (or pass a flavor of `n` rules), hiding that `zcat config.gz | kart check -` read nothing.
   */
  whole?: boolean;
}

/**
 * Reads a kernel config from a path, or from stdin for `-`. Gzip is recognised by its magic bytes, never
 * by the file name, so `/proc/config.gz`, a renamed copy, or a piped `config.gz` all work; it is
 * gunzipped as a stream.
 */
export async function readKernelConfig(
  pathOrDash: string,
  options: ReadKernelConfigOptions = {},
): Promise<KernelConfigWithLines> {
  const input = pathOrDash === '-' ? (options.stdin ?? process.stdin) : await openFile(pathOrDash);
  return readKernelConfigStream(input, pathOrDash, options);
}

/**
 * Reads a kernel config from a stream already open (a layer's config.gz, an image's embedded
 * config), with the same rules as readKernelConfig; `source` names it in messages.
 */
export async function readKernelConfigStream(
  input: Readable,
  source: string,
  options: Pick<ReadKernelConfigOptions, 'whole'> = {},
): Promise<KernelConfigWithLines> {
  const text = await readText(input, source);
  const config = parseKernelConfig(text, source);
  if (options.whole === true && config.entries().next().done === true) throw configEmpty(source);
  return config;
}

async function openFile(path: string): Promise<Readable> {
  try {
    const handle = await open(path, 'r');
    return handle.createReadStream();
  } catch (error) {
    throw configUnreadable(path, error);
  }
}

async function readText(input: Readable, source: string): Promise<string> {
  const raw = input[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
  // Collect at least the two magic bytes (a pipe may deliver one byte at a time).
  const head: Buffer[] = [];
  let headLength = 0;
  let ended = false;
  while (headLength < 2) {
    const next = await pull(raw, source);
    if (next.done) {
      ended = true;
      break;
    }
    const chunk = Buffer.from(next.value);
    head.push(chunk);
    headLength += chunk.length;
  }
  const prefix = Buffer.concat(head);
  const rest = (async function* () {
    yield prefix;
    if (ended) return;
    for (;;) {
      const next = await pull(raw, source);
      if (next.done) return;
      yield Buffer.from(next.value);
    }
  })();
  const gzipped = prefix.length >= 2 && prefix[0] === 0x1f && prefix[1] === 0x8b;
  const bytes: AsyncIterable<Buffer> = gzipped ? Readable.from(rest).pipe(createGunzip()) : rest;
  return decode(bytes, source, gzipped, input);
}

async function pull(raw: AsyncIterator<Buffer>, source: string): Promise<IteratorResult<Buffer>> {
  try {
    return await raw.next();
  } catch (error) {
    throw configUnreadable(source, error);
  }
}

async function decode(
  bytes: AsyncIterable<Buffer>,
  source: string,
  gzipped: boolean,
  input: Readable,
): Promise<string> {
  const decoder = new TextDecoder('utf-8', { fatal: true });
  let text = '';
  let total = 0;
  try {
    for await (const chunk of bytes) {
      total += chunk.length;
      if (total > MAX_CONFIG_BYTES) {
        throw configInvalid(
          source,
          undefined,
          `is larger than ${MAX_CONFIG_BYTES} bytes${gzipped ? ' once decompressed' : ''}; a kernel .config is a few hundred KB, so this is some other file`,
        );
      }
      // Stop at the first NUL: a kernel image or other binary is refused without reading it all.
      const nul = chunk.indexOf(0);
      if (nul >= 0) return text + decodeChunk(decoder, chunk.subarray(0, nul), source, true) + '\0';
      text += decodeChunk(decoder, chunk, source, false);
    }
    return text + decodeChunk(decoder, new Uint8Array(0), source, true);
  } catch (error) {
    if (gzipped && error instanceof Error && 'errno' in error && !('exitCode' in error)) {
      throw configInvalid(
        source,
        undefined,
        `starts like gzip but does not decompress (${error.message}); expected a complete config.gz`,
      );
    }
    throw error;
  } finally {
    if (input !== process.stdin) input.destroy();
  }
}

function decodeChunk(decoder: TextDecoder, chunk: Uint8Array, source: string, last: boolean): string {
  try {
    return decoder.decode(chunk, { stream: !last });
  } catch {
    throw configInvalid(source, undefined, 'is not UTF-8 text; this is not a kernel .config');
  }
}
