/**
 * The bench's hashed-bytes counter (KART_COUNT_HASHED_BYTES): a process that hashes known bytes through
 * kart's hashers writes exactly their count at exit; without the variable the hashers are Node's own.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

const DIGEST = resolve(import.meta.dirname, '../../src/oci/digest.ts');
const work = mkdtempSync(join(tmpdir(), 'kart-hashed-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

/** Hashes 1000 + 2 × 65536 bytes through sha256Digest and a hasher, 65536 through a DigestingStream, in a child process. */
function hashInChild(env: NodeJS.ProcessEnv): string {
  const script = `
import { createHash } from 'node:crypto';
import { createDigester, DigestingStream, sha256Digest } from ${JSON.stringify(DIGEST)};
console.log(createDigester().update === createHash('sha256').update ? 'untouched' : 'counting');
sha256Digest(Buffer.alloc(1000));
createDigester().update(Buffer.alloc(65536)).update(Buffer.alloc(65536)).digest();
const stream = new DigestingStream();
stream.resume();
stream.end(Buffer.alloc(65536));
await new Promise((done) => stream.on('end', done));
console.log(stream.digest());`;
  return execFileSync(process.execPath, ['--input-type=module', '-e', script], {
    env: { ...process.env, ...env },
    encoding: 'utf8',
  });
}

describe('KART_COUNT_HASHED_BYTES', () => {
  it('writes the bytes every hasher saw when the process exits', () => {
    const file = join(work, 'count');
    const out = hashInChild({ KART_COUNT_HASHED_BYTES: file });
    expect(out.trim().split('\n')).toEqual([
      'counting',
      'sha256:de2f256064a0af797747c2b97505dc0b9f3df0de4f489eac731c23ae9ca9cc31',
    ]);
    // The digests it checks or names content by apart from the digest it computes for new content.
    expect(JSON.parse(readFileSync(file, 'utf8'))).toEqual({ verified: 1000 + 2 * 65536, content: 65536 });
  });

  it('leaves the hashers untouched when unset', () => {
    const env = { ...process.env };
    delete env.KART_COUNT_HASHED_BYTES;
    expect(hashInChild(env).split('\n')[0]).toBe('untouched');
  });
});
