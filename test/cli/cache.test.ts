/**
 * `kart cache ls|verify|prune` and `kart pull -k` through the CLI: exact stdout, stderr and exit codes
 * on a cache filled by real pulls from the real registry.
 */
import {
  existsSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  readlinkSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openLayout, type OciLayout } from '../../src/oci/layout.ts';
import { copyReference } from '../../src/registry/index.ts';
import { runKart } from '../support/kart-cli.ts';
import { startRegistry, type TestRegistry } from '../support/registry.ts';
import { storeKernelTag } from '../kernel/pull/kernel-shapes.ts';

let registry: TestRegistry;
let work: string;
let layout: OciLayout;

const kart = (...args: string[]) => runKart(args);

beforeAll(async () => {
  registry = await startRegistry();
  work = mkdtempSync(join(tmpdir(), 'kart-cache-cli-'));
  layout = await openLayout(join(work, 'layout'), { create: true });
});
afterAll(async () => {
  await registry?.stop();
  rmSync(work, { recursive: true, force: true });
});

async function publish(tag: string, release: string): Promise<string> {
  await storeKernelTag(layout, tag, { release });
  const ref = `${registry.host}/cli/kernel:stable`;
  await copyReference(`oci:${layout.root}:${tag}`, ref, { plainHttp: true });
  return ref;
}

describe('kart cache', () => {
  it('ls lists references; verify removes a corrupt blob and exits 1; prune --keep 1 drops the old digest', async () => {
    const cache = join(work, 'cache');
    const ref = await publish('one', '6.1.99-one');
    const first = await kart(
      'pull',
      '-k',
      ref,
      '--dest',
      join(work, 'd'),
      '--arch',
      'amd64',
      '--cache',
      cache,
      '--json',
    );
    expect(first.code).toBe(0);
    const pulled1 = JSON.parse(first.stdout);
    await publish('two', '6.1.99-two');
    const second = await kart(
      'pull',
      '-k',
      ref,
      '--dest',
      join(work, 'd'),
      '--arch',
      'amd64',
      '--cache',
      cache,
      '--json',
    );
    const pulled2 = JSON.parse(second.stdout);
    expect(pulled2.digest).not.toBe(pulled1.digest);

    const ls = await kart('cache', 'ls', '--cache', cache, '--json');
    expect(ls.code).toBe(0);
    const listing = JSON.parse(ls.stdout);
    expect(listing.references.map((r: { reference: string }) => r.reference)).toEqual([ref]);
    expect(listing.references[0].pulled.digest).toBe(pulled2.digest);
    expect(listing.references[0].history.map((h: { digest: string }) => h.digest)).toEqual([
      pulled2.digest,
      pulled1.digest,
    ]);
    // 7 blobs of the first pull (index, manifest, config, four layers); the second adds only its index,
    // manifest and kernel layer (config, config.gz, metadata and notes are the same bytes)
    expect(listing.blobs).toBe(10);
    const text = await kart('cache', 'ls', '--cache', cache);
    expect(text.stdout.split('\n')[0]).toMatch(
      new RegExp(`^${ref.replace(/[.]/g, '\\.')}  ${pulled2.digest}  \\d+$`),
    );

    const prune = await kart('cache', 'prune', '--keep', '1', '--cache', cache, '--json');
    expect(prune.code).toBe(0);
    const pruned = JSON.parse(prune.stdout);
    // the old index, its amd64 manifest and its kernel layer
    expect(pruned.removed.map((b: { digest: string }) => b.digest)).toContain(pulled1.digest);
    expect(pruned.removed.length).toBe(3);
    expect(readdirSync(join(cache, 'blobs/sha256')).length).toBe(7);
    const offline = await kart(
      'pull',
      '-k',
      ref,
      '--dest',
      join(work, 'off'),
      '--arch',
      'amd64',
      '--cache',
      cache,
      '--offline',
    );
    expect({ code: offline.code, stderr: offline.stderr }).toEqual({ code: 0, stderr: '' });

    const kernel = pulled2.blobs[pulled2.blobs.length - 4].digest as string;
    const path = join(cache, 'blobs/sha256', kernel.slice(7));
    writeFileSync(path, Buffer.concat([readFileSync(path), Buffer.from('x')]));
    const verify = await kart('cache', 'verify', '--cache', cache);
    expect(verify.code).toBe(1);
    expect(verify.stdout).toMatch(
      new RegExp(
        `^corrupt ${kernel} \\(content hashes to sha256:[0-9a-f]{64}\\): removed\\n7 blobs checked, 1 corrupt\\n$`,
      ),
    );
    expect(existsSync(path)).toBe(false);
    const clean = await kart('cache', 'verify', '--cache', cache);
    expect(clean).toEqual({ code: 0, stdout: '6 blobs checked, 0 corrupt\n', stderr: '' });
  });

  it('prune --keep refuses a non-number', async () => {
    const run = await kart('cache', 'prune', '--keep', 'many', '--cache', join(work, 'cache-x'));
    expect(run).toEqual({
      code: 2,
      stdout: '',
      stderr:
        'kart: error: --keep many: not a whole number of at least 0\nkart: hint: pass e.g. --keep 2 to keep the two most recent digests of each reference\n',
    });
  });
});

describe('kart pull -k usage', () => {
  it('needs --dest', async () => {
    const run = await kart('pull', '-k', 'example.com/k:1');
    expect(run).toEqual({
      code: 2,
      stdout: '',
      stderr:
        'kart: error: kart pull -k needs --dest DIR\nkart: hint: write kart pull -k HOST/REPO:TAG --dest DIR\n',
    });
  });

  it('the copy form refuses the -k-only options (a copy checks no signature): exit 2, no layout written', async () => {
    await storeKernelTag(layout, 'copy-form', { release: '6.1.99-copy-form' });
    const out = join(work, 'copy-form-out');
    const pub = join(work, 'unused.pub');
    for (const [flags, named] of [
      [['--verify-key', pub], '--verify-key'],
      [['--verify-policy', pub], '--verify-policy'],
      [['--adopt', '--dest', out], '--dest, --adopt'],
    ] as const) {
      const run = await kart('pull', `oci:${layout.root}:copy-form`, `oci:${out}:1`, ...flags);
      expect(run).toEqual({
        code: 2,
        stdout: '',
        stderr: `kart: error: ${named}: only with -k, not when copying into a layout\nkart: hint: install a kernel with kart pull -k REF --dest DIR [options]; check a copy with kart verify oci:DIR:TAG --key PUB\n`,
      });
      expect(existsSync(out)).toBe(false);
    }
  });

  it('--offline without a cached reference: exit 1, nothing written', async () => {
    const cache = join(work, 'empty-cache');
    const dest = join(work, 'never');
    const run = await kart('pull', '-k', 'example.com/k:1', '--dest', dest, '--cache', cache, '--offline');
    expect(run).toEqual({
      code: 1,
      stdout: '',
      stderr: `kart: error: example.com/k:1 has never been pulled into the cache ${cache}\nkart: hint: pull it once with the network (without --offline), or pass the --cache that holds it\n`,
    });
    expect(existsSync(dest)).toBe(false);
  });
});

describe('kart pull -k --flavor', () => {
  it('DEST already holding a kernel that fails the flavor: exit 1, REQUIREMENTS_UNMET, DEST as it was', async () => {
    await storeKernelTag(layout, 'flavored', { release: '6.1.99-flavored' });
    const ref = `${registry.host}/cli/flavored:1`;
    await copyReference(`oci:${layout.root}:flavored`, ref, { plainHttp: true });
    const dest = join(work, 'flavored');
    const args = [
      'pull',
      '-k',
      ref,
      '--dest',
      dest,
      '--arch',
      'amd64',
      '--cache',
      join(work, 'cache-flavored'),
    ];
    expect((await kart(...args)).code).toBe(0);
    const link = readlinkSync(dest);
    const record = readFileSync(join(dest, 'kart.json'), 'utf8');
    const manifestDigest = JSON.parse(record).manifestDigest as string;

    const run = await kart(...args, '--flavor', 'zone');
    expect({ code: run.code, stdout: run.stdout }).toEqual({ code: 1, stdout: '' });
    const escaped = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    expect(run.stderr).toMatch(
      new RegExp(
        `^kart: error: the kernel installed in ${escaped(dest)} \\(${manifestDigest}\\) does not meet flavor zone: .*CONFIG_XEN_PV.*\\n` +
          `kart: hint: ${escaped(dest)} was left as it was; pull a kernel built for this flavor\\n$`,
      ),
    );
    expect(readlinkSync(dest)).toBe(link);
    expect(readFileSync(join(dest, 'kart.json'), 'utf8')).toBe(record);
  });
});
