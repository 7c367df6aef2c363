import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { formatVerity, verifyVerity } from '../../src/guest/verity/index.ts';
import { kartErrorOf } from '../support/kart-error.ts';
import { runKartSync } from '../support/kart-cli.ts';

const work = mkdtempSync(join(tmpdir(), 'kart-verity-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));
let counter = 0;
const path = (name: string) => join(work, `${counter++}-${name}`);

/** The research's experiment: 1026 blocks of bytes (i*7+3) % 251, salt 00..1f. */
const SALT = Buffer.from(Array.from({ length: 32 }, (_, i) => i)).toString('hex');
const PATTERN_ROOT = '56d45b5440255b62604c30a63da4a7e94b8407277db14ff7676a4070c98f3023';
function patternData(bytes: number): Buffer {
  const out = Buffer.alloc(bytes);
  for (let i = 0; i < bytes; i++) out[i] = (i * 7 + 3) % 251;
  return out;
}
function writeData(bytes: number): string {
  const file = path('data.img');
  writeFileSync(file, patternData(bytes));
  return file;
}

function veritysetup(...args: string[]): { code: number | null; stdout: string; root?: string } {
  const run = spawnSync('veritysetup', args, { encoding: 'utf8' });
  const root = /^Root hash:\s+([0-9a-f]+)/m.exec(run.stdout)?.[1];
  return { code: run.status, stdout: run.stdout + run.stderr, ...(root === undefined ? {} : { root }) };
}

describe('formatVerity equals veritysetup format', () => {
  const data = writeData(1026 * 4096);

  it('without a superblock: the research vector, byte for byte', async () => {
    const ours = path('hash.img');
    const theirs = path('hash.img');
    const params = await formatVerity({
      dataPath: data,
      hashPath: ours,
      salt: Buffer.from(SALT, 'hex'),
      superblock: false,
    });
    const reference = veritysetup('format', '--no-superblock', `--salt=${SALT}`, data, theirs);
    expect(reference.root).toBe(PATTERN_ROOT);
    expect(params).toMatchObject({
      rootHash: PATTERN_ROOT,
      salt: SALT,
      dataBlocks: 1026,
      hashBlocks: 10,
      hashStartBlock: 0,
    });
    expect(readFileSync(ours).length).toBe(40960);
    expect(readFileSync(ours).equals(readFileSync(theirs))).toBe(true);
  });

  it('with the superblock (same UUID): byte for byte, tree after the first hash block', async () => {
    const uuid = '12345678-1234-1234-1234-123456789abc';
    const ours = path('hash.img');
    const theirs = path('hash.img');
    const params = await formatVerity({
      dataPath: data,
      hashPath: ours,
      salt: Buffer.from('00', 'hex'),
      uuid,
    });
    const reference = veritysetup('format', '--salt=00', `--uuid=${uuid}`, data, theirs);
    expect(params.rootHash).toBe(reference.root);
    expect(params).toMatchObject({ hashStartBlock: 1, superblock: true, uuid });
    expect(readFileSync(ours).equals(readFileSync(theirs))).toBe(true);
    expect(readFileSync(ours).subarray(0, 8).toString('latin1')).toBe('verity\0\0');
  });

  it('three levels with 512-byte blocks, and one data block (no tree: the root is its digest)', async () => {
    const small = writeData(300 * 512);
    const ours = path('hash.img');
    const theirs = path('hash.img');
    const args = ['--data-block-size=512', '--hash-block-size=512', '--no-superblock', '--salt=abcd'];
    const params = await formatVerity({
      dataPath: small,
      hashPath: ours,
      dataBlockSize: 512,
      hashBlockSize: 512,
      salt: Buffer.from('abcd', 'hex'),
      superblock: false,
    });
    expect(params.rootHash).toBe(veritysetup('format', ...args, small, theirs).root);
    expect(params.hashBlocks).toBe(19 + 2 + 1);
    expect(readFileSync(ours).equals(readFileSync(theirs))).toBe(true);

    const one = writeData(4096);
    const single = await formatVerity({
      dataPath: one,
      hashPath: path('hash.img'),
      salt: Buffer.from('00', 'hex'),
      superblock: false,
    });
    const expected = createHash('sha256')
      .update(Buffer.from([0]))
      .update(readFileSync(one))
      .digest('hex');
    expect(single).toMatchObject({ rootHash: expected, hashBlocks: 0 });
    expect(veritysetup('format', '--no-superblock', '--salt=00', one, path('hash.img')).root).toBe(expected);
  });

  it('data at an offset and the tree inside the same file, where veritysetup --hash-offset finds it', async () => {
    const image = path('image.img');
    const payload = patternData(64 * 4096);
    writeFileSync(image, Buffer.concat([Buffer.alloc(1 << 20), payload, Buffer.alloc(1 << 20)]));
    const hashOffset = (1 << 20) + payload.length;
    const params = await formatVerity({
      dataPath: image,
      hashPath: image,
      dataOffset: 1 << 20,
      dataBlocks: 64,
      hashOffset,
      salt: Buffer.from(SALT, 'hex'),
      superblock: false,
    });
    const plain = path('data.img');
    writeFileSync(plain, payload);
    const check = veritysetup(
      'verify',
      '--no-superblock',
      `--salt=${SALT}`,
      `--hash-offset=${hashOffset}`,
      '--data-blocks=64',
      plain,
      image,
      params.rootHash,
    );
    expect(check.code).toBe(0);
    expect(readFileSync(image).length).toBe(hashOffset + (1 << 20));
    // In one file the data ends, by default, where the hash device begins.
    await expect(
      verifyVerity({
        dataPath: image,
        hashPath: image,
        dataOffset: 1 << 20,
        hashOffset,
        rootHash: params.rootHash,
        salt: SALT,
        superblock: false,
      }),
    ).resolves.toMatchObject({ dataBlocks: 64 });
  });
});

describe('salts', () => {
  const data = writeData(40 * 4096);
  it('content (the default): the same data gives the same salt and root; the salt is the documented digest', async () => {
    const a = await formatVerity({ dataPath: data, hashPath: path('hash.img'), superblock: false });
    const b = await formatVerity({ dataPath: data, hashPath: path('hash.img'), superblock: false });
    expect(a.rootHash).toBe(b.rootHash);
    const salt = createHash('sha256')
      .update('kart dm-verity content salt v1\n')
      .update(readFileSync(data))
      .digest('hex');
    expect(a.salt).toBe(salt);
    const other = writeData(41 * 4096);
    expect(
      (await formatVerity({ dataPath: other, hashPath: path('hash.img'), superblock: false })).salt,
    ).not.toBe(salt);
  });

  it('random: 32 fresh bytes each time, and veritysetup verifies the result', async () => {
    const hashA = path('hash.img');
    const a = await formatVerity({ dataPath: data, hashPath: hashA, salt: 'random', superblock: false });
    const b = await formatVerity({
      dataPath: data,
      hashPath: path('hash.img'),
      salt: 'random',
      superblock: false,
    });
    expect(a.salt).toMatch(/^[0-9a-f]{64}$/);
    expect(a.salt).not.toBe(b.salt);
    expect(veritysetup('verify', '--no-superblock', `--salt=${a.salt}`, data, hashA, a.rootHash).code).toBe(
      0,
    );
  });
});

describe('verify', () => {
  const data = writeData(300 * 4096);
  const hash = path('hash.img');
  const made = formatVerity({
    dataPath: data,
    hashPath: hash,
    salt: Buffer.from(SALT, 'hex'),
    superblock: false,
  });
  const sbHash = path('hash.img');
  const madeSb = formatVerity({ dataPath: data, hashPath: sbHash });

  it('accepts its own tree, with and without the superblock; veritysetup accepts the same parameters', async () => {
    const params = await made;
    await expect(
      verifyVerity({
        dataPath: data,
        hashPath: hash,
        rootHash: params.rootHash,
        salt: SALT,
        superblock: false,
      }),
    ).resolves.toMatchObject({ dataBlocks: 300 });
    const sb = await madeSb;
    await expect(
      verifyVerity({ dataPath: data, hashPath: sbHash, rootHash: sb.rootHash }),
    ).resolves.toMatchObject({ salt: sb.salt, uuid: sb.uuid });
    expect(veritysetup('verify', data, sbHash, sb.rootHash).code).toBe(0);
    expect(veritysetup('verify', '--no-superblock', `--salt=${SALT}`, data, hash, params.rootHash).code).toBe(
      0,
    );
  });

  it('one flipped data byte fails kart (exit 1, the hash block named) and veritysetup', async () => {
    const params = await made;
    const bad = path('bad.img');
    const bytes = readFileSync(data);
    bytes[200 * 4096 + 17]! ^= 0x01;
    writeFileSync(bad, bytes);
    const error = await kartErrorOf(
      verifyVerity({
        dataPath: bad,
        hashPath: hash,
        rootHash: params.rootHash,
        salt: SALT,
        superblock: false,
      }),
    );
    expect(error.code).toBe('VERITY_MISMATCH');
    expect(error.exitCode).toBe(1);
    expect(error.details).toMatchObject({ level: 0, hashBlock: 1 });
    expect(error.message).toContain('data blocks 128..255');
    expect(
      veritysetup('verify', '--no-superblock', `--salt=${SALT}`, bad, hash, params.rootHash).code,
    ).not.toBe(0);
    const cli = runKartSync([
      'verity',
      'verify',
      '--no-superblock',
      '--salt',
      SALT,
      bad,
      hash,
      params.rootHash,
    ]);
    expect(cli.code).toBe(1);
    expect(cli.stderr).toContain('hash block 1 of level 0');
  });

  it('a flipped hash byte or a wrong root hash fails', async () => {
    const params = await made;
    const badHash = path('hash.img');
    const bytes = readFileSync(hash);
    bytes[5]! ^= 0x80; // the top level: the first block of the file
    writeFileSync(badHash, bytes);
    const error = await kartErrorOf(
      verifyVerity({
        dataPath: data,
        hashPath: badHash,
        rootHash: params.rootHash,
        salt: SALT,
        superblock: false,
      }),
    );
    expect(error.code).toBe('VERITY_MISMATCH');
    // 300 blocks: a leaf level of 3 blocks under a top level of 1, which the walk checks against them.
    expect(error.details).toMatchObject({ level: 1, hashBlock: 0, offset: 0 });
    const wrongRoot = await kartErrorOf(
      verifyVerity({
        dataPath: data,
        hashPath: hash,
        rootHash: '00'.repeat(32),
        salt: SALT,
        superblock: false,
      }),
    );
    expect(wrongRoot.details).toMatchObject({ actual: params.rootHash });
  });
});

describe('bad input', () => {
  const data = writeData(8 * 4096);
  it('errors name what is wrong; a failed format leaves no hash file behind', async () => {
    const target = path('hash.img');
    const short = await kartErrorOf(
      formatVerity({ dataPath: data, hashPath: target, dataBlocks: 9, superblock: false }),
    );
    expect(short.code).toBe('VERITY_DATA_TOO_SHORT');
    expect(existsSync(target)).toBe(false);
    expect(readdirSync(work).filter((name) => name.endsWith('.tmp'))).toEqual([]);
    expect(
      (await kartErrorOf(formatVerity({ dataPath: data, hashPath: target, dataBlockSize: 1000 }))).code,
    ).toBe('VERITY_INVALID');
    expect((await kartErrorOf(formatVerity({ dataPath: join(work, 'absent'), hashPath: target }))).code).toBe(
      'VERITY_IO',
    );
    const noSb = await kartErrorOf(verifyVerity({ dataPath: data, hashPath: data, rootHash: 'ab' }));
    expect(noSb.code).toBe('VERITY_SUPERBLOCK_INVALID');
    const noSalt = await kartErrorOf(
      verifyVerity({ dataPath: data, hashPath: data, rootHash: 'ab', superblock: false }),
    );
    expect(noSalt.code).toBe('VERITY_INVALID');
    const tooShort = await kartErrorOf(
      verifyVerity({
        dataPath: data,
        hashPath: data,
        rootHash: 'ab',
        salt: '00',
        superblock: false,
        hashOffset: 8 * 4096,
      }),
    );
    expect(tooShort.code).toBe('VERITY_HASH_TOO_SHORT');
  });

  it('the CLI: --json parameters, a bad salt is exit 2', () => {
    const hash = path('hash.img');
    const run = runKartSync(['verity', 'format', '--no-superblock', '--salt', SALT, '--json', data, hash]);
    expect(run.code).toBe(0);
    const params = JSON.parse(run.stdout) as Record<string, unknown>;
    expect(params).toMatchObject({ salt: SALT, dataBlocks: 8, hashBlocks: 1, superblock: false });
    expect(
      veritysetup('verify', '--no-superblock', `--salt=${SALT}`, data, hash, String(params.rootHash)).code,
    ).toBe(0);
    const bad = runKartSync(['verity', 'format', '--salt', 'xyz', data, path('hash.img')]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('salt "xyz"');
    const text = runKartSync(['verity', 'format', '--salt', 'random', data, path('hash.img')]);
    expect(text.stdout).toMatch(/^Root hash:\s+[0-9a-f]{64}$/m);
    expect(execFileSync('veritysetup', ['--version'], { encoding: 'utf8' })).toContain('veritysetup');
  });
});
