import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import { afterAll, describe, expect, it } from 'vitest';
import { writeNewFile } from '../../src/oci/file-sink.ts';

const work = mkdtempSync(join(tmpdir(), 'kart-file-sink-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));
let files = 0;
const path = () => join(work, `f${++files}`);

describe('writeNewFile', () => {
  it('writes every byte in order, across batches, and lets inspect see each chunk first', async () => {
    const chunks = Array.from({ length: 57 }, (_, i) => randomBytes(i === 56 ? 1234 : 65536));
    const seen: number[] = [];
    const file = path();
    await writeNewFile(Readable.from(chunks), file, (chunk) => seen.push(chunk.length));
    expect(readFileSync(file).equals(Buffer.concat(chunks))).toBe(true);
    expect(seen).toEqual(chunks.map((chunk) => chunk.length));
  });

  it('refuses to replace a file that exists', async () => {
    const file = path();
    await writeNewFile(Readable.from([Buffer.from('a')]), file);
    await expect(writeNewFile(Readable.from([Buffer.from('b')]), file)).rejects.toMatchObject({
      code: 'EEXIST',
    });
    expect(readFileSync(file, 'utf8')).toBe('a');
  });

  it('rejects with the error of content that failed before the file was open', async () => {
    const content = new PassThrough();
    content.on('error', () => {});
    content.destroy(new Error('broke early'));
    await expect(writeNewFile(content, path())).rejects.toThrow('broke early');
  });

  it('rejects with what inspect throws, and stops the content', async () => {
    const content = Readable.from([Buffer.alloc(10), Buffer.alloc(10)]);
    const failing = writeNewFile(content, path(), () => {
      throw new Error('not this');
    });
    await expect(failing).rejects.toThrow('not this');
    expect(content.destroyed).toBe(true);
  });

  it('rejects content destroyed before its end', async () => {
    const content = new PassThrough();
    const writing = writeNewFile(content, path());
    content.write(Buffer.alloc(100));
    setTimeout(() => content.destroy(), 20);
    await expect(writing).rejects.toMatchObject({ code: 'ERR_STREAM_PREMATURE_CLOSE' });
  });
});
