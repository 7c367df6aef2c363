import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buffer } from 'node:stream/consumers';
import { afterAll, describe, expect, it } from 'vitest';
import type { Digest } from '../../src/oci/digest.ts';
import { verifiedFileStream } from '../../src/oci/verified-file-stream.ts';

const work = mkdtempSync(join(tmpdir(), 'kart-verified-file-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

const content = randomBytes(300_000);
const digest: Digest = `sha256:${createHash('sha256').update(content).digest('hex')}`;

async function streamOf(bytes: Buffer, name: string) {
  const path = join(work, name);
  writeFileSync(path, bytes);
  const handle = await open(path, 'r');
  return {
    handle,
    stream: verifiedFileStream(handle, { digest, size: content.length }, `blob ${name}`, 65536),
  };
}

describe('verifiedFileStream', () => {
  it('passes the whole file on in chunks of the size asked, and closes the file at its end', async () => {
    const { handle, stream } = await streamOf(content, 'good');
    const sizes: number[] = [];
    stream.on('data', (chunk: Buffer) => sizes.push(chunk.length));
    expect((await buffer(stream)).equals(content)).toBe(true);
    expect(sizes).toEqual([65536, 65536, 65536, 65536, 37856]);
    await new Promise((done) => setImmediate(done));
    expect(handle.fd).toBe(-1);
  });

  it.each([
    [
      'changed',
      Buffer.concat([content.subarray(0, 1000), Buffer.alloc(1), content.subarray(1001)]),
      'DIGEST_MISMATCH',
    ],
    ['short', content.subarray(0, 299_999), 'SIZE_MISMATCH'],
    ['long', Buffer.concat([content, Buffer.alloc(70_000)]), 'SIZE_MISMATCH'],
  ])('errors instead of ending when the file is %s', async (name, bytes, code) => {
    const { stream } = await streamOf(bytes, name);
    await expect(buffer(stream)).rejects.toMatchObject({
      code,
      message: expect.stringContaining(`blob ${name}`),
    });
  });

  it('reads nothing until asked, and a stream destroyed unread closes its file', async () => {
    const { handle, stream } = await streamOf(Buffer.alloc(10), 'unread');
    await new Promise((done) => setTimeout(done, 20));
    expect(stream.destroyed).toBe(false);
    stream.destroy();
    await new Promise((done) => stream.once('close', done));
    expect(handle.fd).toBe(-1);
  });
});
