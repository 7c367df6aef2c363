/**
 * kart publish from the command line, into an OCI layout: text and --json output, exit codes and
 * messages of the usage errors, a refused config (exit 1, nothing written), and a catalogue that
 * stops at its first failure with a summary.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { FAILING_CONFIG, makeFixtureWorld } from '../kernel/publish/publish-fixture.ts';
import { runKart } from '../support/kart-cli.ts';

const kart = (args: string[], cwd?: string) => runKart(args, cwd === undefined ? {} : { cwd });

const world = makeFixtureWorld();

describe('kart publish (CLI)', () => {
  it('publishes into a layout, then says unchanged; --json gives the result', async () => {
    const build = world.build({ release: '6.1.10-cli' });
    const store = join(world.root, 'cli-store');
    const first = await kart([
      'publish',
      build,
      '--flavor',
      world.flavor,
      '--to',
      `oci:${store}`,
      '--version',
      '6.1.10',
      '--tag',
      'stable',
    ]);
    expect(first.code).toBe(0);
    expect(first.stdout).toMatch(/^published: 6\.1\.10 linux\/amd64 flavor testflavor → oci:/);
    expect(first.stdout).toContain('5 blob(s), ');
    const again = await kart([
      'publish',
      build,
      '--flavor',
      world.flavor,
      '--to',
      `oci:${store}`,
      '--version',
      '6.1.10',
      '--tag',
      'stable',
      '--json',
    ]);
    expect(again.code).toBe(0);
    const result = JSON.parse(again.stdout) as {
      unchanged: boolean;
      tags: { tag: string; action: string; previous: string | null }[];
    };
    expect(result.unchanged).toBe(true);
    expect(result.tags.map((t) => [t.tag, t.action])).toEqual([
      ['6.1.10', 'unchanged'],
      ['6.1', 'unchanged'],
      ['6', 'unchanged'],
      ['latest', 'unchanged'],
      [expect.stringMatching(/^6\.1\.10-[0-9a-f]{12}$/), 'unchanged'],
      ['stable', 'unchanged'],
    ]);
    expect(again.stderr).toBe('');
  });

  it('--dry-run prints the plan and writes nothing, not even a new layout directory', async () => {
    const build = world.build({ release: '6.2.0-cli' });
    const out = await kart([
      'publish',
      build,
      '--flavor',
      world.flavor,
      '--to',
      `oci:${join(world.root, 'dry')}`,
      '--version',
      '6.2.0',
      '--dry-run',
    ]);
    expect(out.code).toBe(0);
    expect(out.stdout).toMatch(/^plan \(dry run, nothing written\): 6\.2\.0 linux\/amd64/);
    expect(out.stdout).toMatch(/tag 6\.2\.0 +create → [0-9a-f]{12}/);
    expect(out.stdout).toContain('5 blob(s), ');
    expect(out.stdout).toContain('to upload; 5 tag(s) to set');
    expect(existsSync(join(world.root, 'dry'))).toBe(false);
  });

  it('usage errors exit 2 with what to do', async () => {
    const build = world.build({ release: '6.1.10-cli' });
    expect(await kart(['publish', build, '--flavor', world.flavor])).toMatchObject({
      code: 2,
      stderr:
        'kart: error: no destination: publish needs --to or --registry\nkart: hint: e.g. --to ghcr.io/acme/zone-kernel, --to oci:./kernels, or --registry ghcr.io/acme\n',
    });
    expect(
      await kart(['publish', build, '--flavor', world.flavor, '--to', 'oci:x', '--registry', 'ghcr.io/acme']),
    ).toMatchObject({
      code: 2,
      stderr: expect.stringContaining('kart: error: --to and --registry were both given\n'),
    });
    expect(
      await kart(['publish', build, '--flavor', world.flavor, '--to', 'ghcr.io/acme/k:6.1']),
    ).toMatchObject({
      code: 2,
      stderr: expect.stringContaining(
        'kart: error: destination ghcr.io/acme/k:6.1 names a tag; publish chooses the tags itself\n',
      ),
    });
    expect(await kart(['publish', build, '--to', 'oci:x'])).toMatchObject({
      code: 2,
      stderr: expect.stringContaining('kart publish needs --flavor'),
    });
    expect(
      await kart(['publish', build, '--flavor', world.flavor, '--to', 'oci:x', '--version', '6.1']),
    ).toMatchObject({
      code: 2,
      stderr: expect.stringContaining('kart: error: version "6.1" is not a kernel release version'),
    });
    expect(existsSync('x')).toBe(false);
  });

  it('a config failing its flavor exits 1 and writes nothing', async () => {
    const build = world.build({ release: '6.1.10-cli', config: FAILING_CONFIG });
    const store = join(world.root, 'refused');
    const out = await kart([
      'publish',
      build,
      '--flavor',
      world.flavor,
      '--to',
      `oci:${store}`,
      '--version',
      '6.1.10',
    ]);
    expect(out.code).toBe(1);
    expect(out.stderr).toContain('does not meet flavor testflavor (1 requirement failed)');
    expect(existsSync(store)).toBe(false);
  });

  it('--catalogue publishes in order, stops at the first failure and summarises', async () => {
    world.build({ release: '6.1.10-cat', name: 'cat-good' });
    world.build({ release: '6.1.11-cat', name: 'cat-bad', config: FAILING_CONFIG });
    world.build({ release: '6.1.12-cat', name: 'cat-later' });
    const file = join(world.root, 'cat.ini');
    writeFileSync(
      file,
      '[6.1.10]\nflavors = testflavor.ini\narches = x86_64\nbuild = cat-good\n\n[6.1.11]\nflavors = testflavor.ini\narches = x86_64\nbuild = cat-bad\n\n[6.1.12]\nflavors = testflavor.ini\narches = x86_64\nbuild = cat-later\n',
    );
    const store = join(world.root, 'cat-store');
    const out = await kart(['publish', '--catalogue', file, '--to', `oci:${store}`]);
    expect(out.code).toBe(1);
    expect(out.stdout).toContain(`FAILED 6.1.11 ${world.flavor} x86_64 (${file}:6): `);
    expect(out.stdout).toContain(
      [
        `summary of ${file}: 1 published, 1 failed, 1 not tried`,
        `  published  6.1.10 ${world.flavor} x86_64 (${file}:1)`,
        `  FAILED     6.1.11 ${world.flavor} x86_64 (${file}:6)`,
        `  not tried  6.1.12 ${world.flavor} x86_64 (${file}:11)`,
      ].join('\n'),
    );
    const tags = (
      JSON.parse(readFileSync(join(store, 'index.json'), 'utf8')) as {
        manifests: { annotations: Record<string, string> }[];
      }
    ).manifests.map((m) => m.annotations['org.opencontainers.image.ref.name']);
    expect(tags.sort()).toEqual([
      '6',
      '6.1',
      '6.1.10',
      expect.stringMatching(/^6\.1\.10-[0-9a-f]{12}$/),
      'latest',
    ]);
  });
});
