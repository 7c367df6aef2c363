import { execFileSync, spawn } from 'node:child_process';
import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, describe, expect, it } from 'vitest';
import {
  LOCK_FILE_NAME,
  MediaType,
  descriptorOf,
  fetchBytes,
  openLayout,
  pushBytes,
  sha256Digest,
  type Descriptor,
} from '../../src/oci/index.ts';
import { buildSmallImage } from './support/small-image.ts';
import { kartErrorOf } from '../support/kart-error.ts';

const work = mkdtempSync(join(tmpdir(), 'kart-layout-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));
let counter = 0;
const fresh = (): string => join(work, `layout-${++counter}`);
const OCI_INDEX = resolve(import.meta.dirname, '../../src/oci/index.ts');

const caught = (run: () => Promise<unknown>) => kartErrorOf(run);

function listTree(dir: string): string[] {
  return readdirSync(dir, { recursive: true, encoding: 'utf8' }).sort();
}

const hello = Buffer.from('hello layout\n');
const helloDesc = descriptorOf(hello, 'application/octet-stream');

describe('openLayout', () => {
  it('creates oci-layout, an empty index.json and blobs/sha256', async () => {
    const dir = fresh();
    const layout = await openLayout(dir, { create: true });
    expect(layout.name).toBe(`oci:${dir}`);
    expect(readFileSync(join(dir, 'oci-layout'), 'utf8')).toBe('{"imageLayoutVersion":"1.0.0"}');
    expect(JSON.parse(readFileSync(join(dir, 'index.json'), 'utf8'))).toEqual({
      schemaVersion: 2,
      mediaType: MediaType.OciIndex,
      manifests: [],
    });
    expect(existsSync(join(dir, 'blobs', 'sha256'))).toBe(true);
  });

  it('LAYOUT_NOT_FOUND for a missing directory without create, and creates nothing', async () => {
    const dir = fresh();
    const error = await caught(() => openLayout(dir));
    expect(error.code).toBe('LAYOUT_NOT_FOUND');
    expect(error.message).toBe(`OCI image layout ${dir} does not exist`);
    expect(error.exitCode).toBe(2);
    expect(existsSync(dir)).toBe(false);
  });

  it('LAYOUT_INVALID for a directory with other files and no oci-layout, and leaves it alone', async () => {
    const dir = fresh();
    mkdirSync(dir);
    writeFileSync(join(dir, 'notes.txt'), 'mine');
    const error = await caught(() => openLayout(dir, { create: true }));
    expect(error.code).toBe('LAYOUT_INVALID');
    expect(error.message).toBe(`${dir} is not an OCI image layout: it has no oci-layout file`);
    expect(listTree(dir)).toEqual(['notes.txt']);
  });

  it('LAYOUT_INVALID for a corrupt index.json', async () => {
    const dir = fresh();
    await openLayout(dir, { create: true });
    writeFileSync(join(dir, 'index.json'), '{"schemaVersion":2,"manifests":[{"digest":"nope"}]}');
    const error = await caught(() => openLayout(dir));
    expect(error.code).toBe('LAYOUT_INVALID');
    expect(error.message).toBe(
      `${dir} is not a valid OCI image layout: ${dir}/index.json: manifests.0.mediaType: Invalid input: expected string, received undefined`,
    );
  });

  it('LAYOUT_UNWRITABLE naming the path and OS reason when a parent is a file', async () => {
    const file = join(work, `plain-file-${++counter}`);
    writeFileSync(file, 'x');
    const error = await caught(() => openLayout(join(file, 'layout'), { create: true }));
    expect(error.code).toBe('LAYOUT_UNWRITABLE');
    expect(error.message).toBe(
      `${join(file, 'layout')}: cannot create the layout directory (ENOTDIR: not a directory)`,
    );
    expect(error.exitCode).toBe(2);
    expect(readFileSync(file, 'utf8')).toBe('x');
  });

  it('LAYOUT_UNWRITABLE (EACCES) for a directory the user cannot write, and writes nothing', async () => {
    const parent = fresh();
    mkdirSync(parent);
    chmodSync(work, 0o755); // let the other user reach it
    chmodSync(parent, 0o555);
    const dir = join(parent, 'layout');
    // Root ignores permissions, so the open runs as nobody when the suite runs as root.
    const asNobody =
      process.getuid?.() === 0 ? ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups'] : [];
    const script = `import(${JSON.stringify(OCI_INDEX)}).then((m) => m.openLayout(${JSON.stringify(dir)}, { create: true })).then(() => console.log('opened'), (e) => console.log(JSON.stringify([e.code, e.message, e.exitCode])))`;
    const [command, ...args] = [...asNobody, process.execPath, '-e', script];
    const out = execFileSync(command!, args, { encoding: 'utf8' }).trim();
    expect(JSON.parse(out)).toEqual([
      'LAYOUT_UNWRITABLE',
      `${dir}: cannot create the layout directory (EACCES: permission denied)`,
      2,
    ]);
    expect(readdirSync(parent)).toEqual([]);
  });
});

describe('OciLayout blobs', () => {
  it('push then fetch returns the exact bytes, stored under blobs/sha256/<hex>', async () => {
    const dir = fresh();
    const layout = await openLayout(dir, { create: true });
    await pushBytes(layout, helloDesc, hello);
    expect(readFileSync(join(dir, 'blobs', 'sha256', helloDesc.digest.slice(7)))).toEqual(hello);
    expect(await layout.exists(helloDesc)).toBe(true);
    expect(await fetchBytes(layout, helloDesc)).toEqual(hello);
  });

  it('a push whose content does not match leaves no file, not even a temp file', async () => {
    const dir = fresh();
    const layout = await openLayout(dir, { create: true });
    const before = listTree(dir);
    const error = await caught(() => layout.push(helloDesc, Readable.from([Buffer.from('hello LAYOUT\n')])));
    expect(error.code).toBe('DIGEST_MISMATCH');
    expect(error.message).toBe(
      `blob ${helloDesc.digest} pushed to oci:${dir}: content digest is ${sha256Digest('hello LAYOUT\n')}, expected ${helloDesc.digest}`,
    );
    const short = await caught(() => layout.push(helloDesc, Readable.from([Buffer.from('hello')])));
    expect(short.code).toBe('SIZE_MISMATCH');
    expect(listTree(dir).filter((p) => !p.startsWith('.kart-ingest'))).toEqual(before);
    expect(readdirSync(join(dir, '.kart-ingest'))).toEqual([]);
    expect(await layout.exists(helloDesc)).toBe(false);
  });

  it('a blob corrupted at rest fails fetch with DIGEST_MISMATCH', async () => {
    const dir = fresh();
    const layout = await openLayout(dir, { create: true });
    await pushBytes(layout, helloDesc, hello);
    writeFileSync(layout.blobPath(helloDesc.digest), 'hellO layout\n');
    const error = await caught(() => fetchBytes(layout, helloDesc));
    expect(error.code).toBe('DIGEST_MISMATCH');
    expect(error.message).toBe(
      `oci:${dir} blob ${helloDesc.digest}: content digest is ${sha256Digest('hellO layout\n')}, expected ${helloDesc.digest}`,
    );
    expect(error.exitCode).toBe(1);
  });

  it('fetch of a missing blob is NOT_FOUND', async () => {
    const layout = await openLayout(fresh(), { create: true });
    const error = await caught(() => layout.fetch(helloDesc));
    expect(error.code).toBe('NOT_FOUND');
    expect(error.message).toBe(`${helloDesc.digest} is not stored in ${layout.name}`);
  });

  it('ingest stores a stream of unknown digest under its digest', async () => {
    const layout = await openLayout(fresh(), { create: true });
    const desc = await layout.ingest(
      Readable.from([hello.subarray(0, 5), hello.subarray(5)]),
      'application/octet-stream',
    );
    expect(desc).toEqual(helloDesc);
    expect(await fetchBytes(layout, desc)).toEqual(hello);
  });
});

describe('OciLayout tags', () => {
  async function layoutWithTwoBlobs(): Promise<{
    dir: string;
    a: Descriptor;
    b: Descriptor;
    layout: Awaited<ReturnType<typeof openLayout>>;
  }> {
    const dir = fresh();
    const layout = await openLayout(dir, { create: true });
    const a = descriptorOf(Buffer.from('{"a":1}'), MediaType.OciManifest);
    const b = descriptorOf(Buffer.from('{"b":2}'), MediaType.OciManifest);
    await pushBytes(layout, a, Buffer.from('{"a":1}'));
    await pushBytes(layout, b, Buffer.from('{"b":2}'));
    return { dir, a, b, layout };
  }

  it('tag writes ref.name entries; re-tagging replaces only that entry and keeps the others', async () => {
    const { dir, a, b, layout } = await layoutWithTwoBlobs();
    await layout.tag(a, 'one');
    await layout.tag(a, 'two');
    await layout.tag(b, 'one');
    const index = JSON.parse(readFileSync(join(dir, 'index.json'), 'utf8'));
    expect(index.manifests).toEqual([
      { ...b, annotations: { 'org.opencontainers.image.ref.name': 'one' } },
      { ...a, annotations: { 'org.opencontainers.image.ref.name': 'two' } },
    ]);
    expect(await layout.resolve('one')).toEqual(b);
    expect(await layout.resolve('two')).toEqual(a);
    expect(await layout.resolve(a.digest)).toEqual(a);
    const tags: string[] = [];
    for await (const tag of layout.tags()) tags.push(tag);
    expect(tags).toEqual(['one', 'two']);
  });

  it('an unknown tag is NOT_FOUND and the hint lists the tags the layout has', async () => {
    const { a, layout } = await layoutWithTwoBlobs();
    await layout.tag(a, 'v2');
    await layout.tag(a, 'v1');
    const error = await caught(() => layout.resolve('v3'));
    expect(error.code).toBe('NOT_FOUND');
    expect(error.message).toBe(`tag "v3" is not in ${layout.name}`);
    expect(error.hint).toBe('the layout has the tags: v1, v2');
  });

  it('refuses to tag what is not stored, and leaves index.json unchanged', async () => {
    const { dir, layout } = await layoutWithTwoBlobs();
    const before = readFileSync(join(dir, 'index.json'));
    const error = await caught(() => layout.tag(helloDesc, 'v1'));
    expect(error.code).toBe('NOT_FOUND');
    expect(readFileSync(join(dir, 'index.json'))).toEqual(before);
  });

  it('refuses an invalid tag', async () => {
    const { a, layout } = await layoutWithTwoBlobs();
    const error = await caught(() => layout.tag(a, '-bad'));
    expect(error.code).toBe('TAG_INVALID');
    expect(error.message).toBe('"-bad" is not a valid tag');
  });

  it('concurrent tags in one process all land', async () => {
    const { a, layout } = await layoutWithTwoBlobs();
    await Promise.all(Array.from({ length: 20 }, (_, i) => layout.tag(a, `t${i}`)));
    const tags: string[] = [];
    for await (const tag of layout.tags()) tags.push(tag);
    expect(tags.length).toBe(20);
  });

  it('two processes tagging one layout at once keep every tag', async () => {
    const { dir, a, b } = await layoutWithTwoBlobs();
    const tagger = (prefix: string, desc: Descriptor) =>
      new Promise<number>((done, fail) => {
        const script = `const m = await import(${JSON.stringify(OCI_INDEX)}); const l = await m.openLayout(${JSON.stringify(dir)}); for (let i = 0; i < 25; i++) await l.tag(${JSON.stringify(desc)}, '${prefix}' + i);`;
        const child = spawn(process.execPath, ['--input-type=module', '-e', script], {
          stdio: ['ignore', 'inherit', 'inherit'],
        });
        child.on('error', fail);
        child.on('exit', (code) => done(code ?? -1));
      });
    expect(await Promise.all([tagger('a', a), tagger('b', b)])).toEqual([0, 0]);
    const layout = await openLayout(dir);
    const tags: string[] = [];
    for await (const tag of layout.tags()) tags.push(tag);
    expect(tags.length).toBe(50);
    expect(await layout.resolve('a24')).toEqual(a);
    expect(await layout.resolve('b0')).toEqual(b);
    expect(existsSync(join(dir, LOCK_FILE_NAME))).toBe(false);
  });

  it('processes creating one new layout at once all succeed and every one of their tags lands', async () => {
    const dir = join(mkdtempSync(join(tmpdir(), 'kart-layout-race-')), 'new');
    const creator = (n: number) =>
      new Promise<number>((done, fail) => {
        // Each process creates the layout, stores its own blob and tags it at once: a process that
        // (re)initialised index.json after another had tagged would lose that tag.
        const script = `const m = await import(${JSON.stringify(OCI_INDEX)}); const { Readable } = await import('node:stream'); const l = await m.openLayout(${JSON.stringify(dir)}, { create: true }); const bytes = Buffer.from('blob ${n}'); const d = m.descriptorOf(bytes, 'application/octet-stream'); await l.push(d, Readable.from([bytes])); await l.tag(d, 'p${n}');`;
        const child = spawn(process.execPath, ['--input-type=module', '-e', script], {
          stdio: ['ignore', 'inherit', 'inherit'],
        });
        child.on('error', fail);
        child.on('exit', (code) => done(code ?? -1));
      });
    const codes = await Promise.all(Array.from({ length: 6 }, (_, n) => creator(n)));
    expect(codes).toEqual([0, 0, 0, 0, 0, 0]);
    const tags: string[] = [];
    for await (const tag of (await openLayout(dir)).tags()) tags.push(tag);
    expect(tags.sort()).toEqual(['p0', 'p1', 'p2', 'p3', 'p4', 'p5']);
  });

  it('takes over a lock left by a process that is gone', async () => {
    const { dir, a, layout } = await layoutWithTwoBlobs();
    const dead = spawn(process.execPath, ['-e', '']);
    const pid = dead.pid;
    await new Promise((done) => dead.on('exit', done));
    const { hostname } = await import('node:os');
    const { localScope } = await import('../../src/oci/process-owner.ts');
    const owner = { pid, host: hostname(), created: Date.now(), ...localScope() };
    writeFileSync(join(dir, LOCK_FILE_NAME), JSON.stringify(owner));
    await layout.tag(a, 'after-crash');
    expect(await layout.resolve('after-crash')).toEqual(a);
  });

  it('LAYOUT_LOCKED when a live process holds the lock past the timeout, and index.json is unchanged', async () => {
    const { dir, a } = await layoutWithTwoBlobs();
    const { hostname } = await import('node:os');
    writeFileSync(
      join(dir, LOCK_FILE_NAME),
      JSON.stringify({ pid: process.pid, host: hostname(), created: Date.now() }),
    );
    const before = readFileSync(join(dir, 'index.json'));
    const layout = await openLayout(dir, { lock: { timeoutMs: 50 } });
    const error = await caught(() => layout.tag(a, 'v1'));
    expect(error.code).toBe('LAYOUT_LOCKED');
    expect(error.message).toBe(`layout ${dir} is locked by another process (${join(dir, LOCK_FILE_NAME)})`);
    expect(readFileSync(join(dir, 'index.json'))).toEqual(before);
  });
});

describe('OciLayout resolve by digest, untag and delete', () => {
  it('resolves a manifest stored as a blob but not listed, by its media type field', async () => {
    const layout = await openLayout(fresh(), { create: true });
    const image = await buildSmallImage(layout, ['amd64']);
    const { platform: _platform, ...plain } = image.manifests[0]!;
    expect(await layout.resolve(plain.digest)).toEqual(plain);
    const error = await caught(() => layout.resolve(image.layers[0]!.digest));
    expect(error.code).toBe('NOT_FOUND');
    expect(error.message).toBe(`${image.layers[0]!.digest} in ${layout.name} is not a manifest or index`);
  });

  it('untag drops one tag and keeps the blob; delete drops the blob and the entries naming it', async () => {
    const dir = fresh();
    const layout = await openLayout(dir, { create: true });
    await pushBytes(layout, helloDesc, hello);
    await layout.tag(helloDesc, 'a');
    await layout.tag(helloDesc, 'b');
    await layout.untag('a');
    const tags: string[] = [];
    for await (const tag of layout.tags()) tags.push(tag);
    expect(tags).toEqual(['b']);
    expect(await layout.exists(helloDesc)).toBe(true);
    await layout.delete(helloDesc);
    expect(await layout.exists(helloDesc)).toBe(false);
    expect(JSON.parse(readFileSync(join(dir, 'index.json'), 'utf8')).manifests).toEqual([]);
  });
});

describe('skopeo reads what the layout store writes', () => {
  it('inspects it, and copies it keeping every digest', async () => {
    const dir = fresh();
    const layout = await openLayout(dir, { create: true });
    const image = await buildSmallImage(layout);
    await layout.tag(image.index, 'v1');
    const raw = execFileSync('skopeo', ['inspect', '--raw', `oci:${dir}:v1`]);
    expect(sha256Digest(raw)).toBe(image.index.digest);
    const inspected = JSON.parse(
      execFileSync(
        'skopeo',
        ['inspect', '--override-arch', 'arm64', '--override-os', 'linux', `oci:${dir}:v1`],
        { encoding: 'utf8' },
      ),
    );
    // skopeo reports the digest of what the tag names (the index), and the chosen platform's layers.
    expect(inspected.Digest).toBe(image.index.digest);
    expect(inspected.Architecture).toBe('arm64');
    expect(inspected.Layers).toEqual([image.layers[2]!.digest, image.layers[0]!.digest]);

    const other = fresh();
    execFileSync('skopeo', [
      'copy',
      '--quiet',
      '--all',
      '--preserve-digests',
      `oci:${dir}:v1`,
      `oci:${other}:v1`,
    ]);
    const copied = await openLayout(other);
    expect((await copied.resolve('v1')).digest).toBe(image.index.digest);
    const blobs = readdirSync(join(other, 'blobs', 'sha256'))
      .map((hex) => `sha256:${hex}`)
      .sort();
    expect(blobs).toEqual([...image.digests].sort());
  });
});
