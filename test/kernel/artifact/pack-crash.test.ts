import { execFileSync, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  createReadStream,
  mkdtempSync,
  readFileSync,
  readdirSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { truncate, writeFile } from 'node:fs/promises';
import { once } from 'node:events';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { packKernel } from '../../../src/kernel/artifact/index.ts';
import { openLayout } from '../../../src/oci/layout.ts';
import { KART } from '../../support/kart-cli.ts';
import { makeSyntheticBuild, type SyntheticBuild } from './pack-fixtures.ts';
import { squashfsSuperblock } from '../../support/synthetic-squashfs.ts';

/**
 * A `kart pack` killed (SIGKILL: no handler runs, no cleanup) while it writes a large layer into a
 * layout that already holds a tag: the layout must stay what it was for every reader. A layer is
 * hashed into a temp file under `.kart-ingest/` and only renamed into blobs/sha256 under its digest
 * once complete, and index.json is only ever replaced by rename, so the kill can leave garbage in
 * `.kart-ingest/` but never a wrong blob or a half-written index.
 */
const ADDONS_BYTES = 256 * 1024 * 1024;
/** A temp file this large can only be the addons layer (the kernel and config layers are KBs). */
const KILL_AT_BYTES = 16 * 1024 * 1024;

let build: SyntheticBuild;
let work: string;
let bigAddons: string;
let noLimitFlavor: string;

beforeAll(async () => {
  build = makeSyntheticBuild();
  work = mkdtempSync(join(tmpdir(), 'kart-pack-crash-'));
  // Sparse: a valid superblock, then zeros the file system need not store; kart reads it like any file.
  bigAddons = join(work, 'big.squashfs');
  await writeFile(bigAddons, squashfsSuperblock(ADDONS_BYTES));
  await truncate(bigAddons, ADDONS_BYTES);
  noLimitFlavor = join(work, 'big.ini');
  writeFileSync(noLimitFlavor, 'description = no addons limit\n\n[require]\nCONFIG_DEMO = y\n');
});

afterAll(() => {
  rmSync(work, { recursive: true, force: true });
});

async function sha256File(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

function tempFiles(dir: string): { name: string; size: number }[] {
  try {
    return readdirSync(join(dir, '.kart-ingest')).map((name) => ({
      name,
      size: statSync(join(dir, '.kart-ingest', name)).size,
    }));
  } catch {
    return []; // not created yet, or a temp renamed away between readdir and stat
  }
}

const skopeoDigest = (dir: string, tag: string): string =>
  (
    JSON.parse(execFileSync('skopeo', ['inspect', `oci:${dir}:${tag}`], { encoding: 'utf8' })) as {
      Digest: string;
    }
  ).Digest;

describe('a kart pack killed while writing a layer', () => {
  it('leaves the layout readable: index.json unchanged, the old tag inspectable, every blob its digest', async () => {
    const dir = join(work, 'layout');
    const old = await packKernel(
      {
        kernel: build.bzImage,
        config: build.config,
        addons: build.addons,
        flavor: build.flavor,
        tags: ['old'],
      },
      await openLayout(dir, { create: true }),
    );
    const index = readFileSync(join(dir, 'index.json'));
    expect(skopeoDigest(dir, 'old')).toBe(old.indexes[0]?.index.digest);

    // The same tag: a pack that got as far as the index would change what `old` names.
    const child = spawn(
      process.execPath,
      [
        KART,
        'pack',
        '--kernel',
        build.bzImage,
        '--config',
        build.config,
        '--addons',
        bigAddons,
        '--flavor',
        noLimitFlavor,
        '-o',
        `oci:${dir}:old`,
      ],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const exited = once(child, 'exit') as Promise<[number | null, NodeJS.Signals | null]>;
    let finished = false;
    void exited.then(() => (finished = true));

    // Poll (no fixed sleep) until the addons layer is partly written, then kill.
    let partial: { name: string; size: number } | undefined;
    while (partial === undefined) {
      if (finished) throw new Error(`kart pack ended before it could be killed mid-layer: ${stderr}`);
      partial = tempFiles(dir).find((file) => file.size >= KILL_AT_BYTES);
      if (partial === undefined) await new Promise((resolve) => setTimeout(resolve, 1));
    }
    child.kill('SIGKILL');
    const [code, signal] = await exited;
    expect({ code, signal }).toEqual({ code: null, signal: 'SIGKILL' });
    // Killed mid-layer: the partial layer is still a temp file, short of the whole tar.
    expect(tempFiles(dir).map((file) => file.name)).toContain(partial.name);
    expect(partial.size).toBeLessThan(ADDONS_BYTES);

    expect(readFileSync(join(dir, 'index.json'))).toEqual(index);
    expect(skopeoDigest(dir, 'old')).toBe(old.indexes[0]?.index.digest);
    const blobs = readdirSync(join(dir, 'blobs', 'sha256'));
    for (const name of blobs) expect(await sha256File(join(dir, 'blobs', 'sha256', name))).toBe(name);
    // Nothing of the big layer reached blobs/ (the old pack's blobs are all KBs).
    expect(blobs.every((name) => statSync(join(dir, 'blobs', 'sha256', name)).size < KILL_AT_BYTES)).toBe(
      true,
    );

    // The layout still takes writes: the kill left no lock behind.
    const next = await packKernel(
      {
        kernel: build.bzImage,
        config: build.config,
        flavor: build.flavor,
        tags: ['next'],
      },
      await openLayout(dir, { create: true }),
    );
    expect(skopeoDigest(dir, 'next')).toBe(next.indexes[0]?.index.digest);
  });
});
