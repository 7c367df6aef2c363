import { mkdirSync, mkdtempSync, readFileSync, readlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { runKartSync } from '../support/kart-cli.ts';
import { makeSyntheticBuild, type SyntheticBuild } from '../kernel/artifact/pack-fixtures.ts';

const kart = (args: string[]) => runKartSync(args, { env: { ...process.env, SOURCE_DATE_EPOCH: '0' } });

let build: SyntheticBuild;
let layout: string;
let work: string;
beforeAll(() => {
  build = makeSyntheticBuild();
  work = mkdtempSync(join(tmpdir(), 'kart-cli-unpack-'));
  layout = join(work, 'layout');
  const common = [
    '--config',
    build.config,
    '--addons',
    build.addons,
    '--flavor',
    build.flavor,
    '-o',
    `oci:${layout}:6.1`,
  ];
  expect(kart(['pack', '--kernel', build.bzImage, ...common]).code).toBe(0);
  expect(kart(['pack', '--kernel', build.arm64Image, ...common]).code).toBe(0);
});

describe('kart unpack', () => {
  it('installs the chosen platform and reports it as JSON', () => {
    const dest = join(work, 'arm');
    const run = kart(['unpack', `oci:${layout}:6.1`, '--dest', dest, '--arch', 'arm64', '--json']);
    expect(run.code).toBe(0);
    const result = JSON.parse(run.stdout) as {
      platform: string;
      files: { name: string }[];
      manifestDigest: string;
    };
    expect(result.platform).toBe('linux/arm64');
    expect(result.files.map((f) => f.name)).toEqual(['kernel', 'config', 'addons.squashfs', 'metadata']);
    expect(readFileSync(join(dest, 'kernel'))).toEqual(readFileSync(build.arm64Image));
    expect(readFileSync(join(dest, 'addons.squashfs'))).toEqual(readFileSync(build.addons));
    expect(readlinkSync(dest)).toBe(`.arm.kart/${result.manifestDigest.slice(7)}`);
  });

  it('checks the config against --flavor', () => {
    const dest = join(work, 'flavored');
    const strict = join(work, 'strict.ini');
    writeFileSync(strict, 'description = strict\n\n[require]\nCONFIG_MISSING_THING = y\n');
    const run = kart(['unpack', `oci:${layout}:6.1`, '--dest', dest, '--arch', 'amd64', '--flavor', strict]);
    expect(run.code).toBe(1);
    expect(run.stderr).toContain("kart: error: the kernel's config does not meet flavor strict: ");
    expect(run.stderr).toContain('CONFIG_MISSING_THING');
  });

  it('exits 1 naming the platforms when the arch is not there', async () => {
    const other = join(work, 'amd-only');
    expect(
      kart([
        'pack',
        '--kernel',
        build.bzImage,
        '--config',
        build.config,
        '--flavor',
        build.flavor,
        '-o',
        `oci:${other}:1`,
      ]).code,
    ).toBe(0);
    const run = kart(['unpack', `oci:${other}:1`, '--dest', join(work, 'x'), '--arch', 'arm64']);
    expect(run.code).toBe(1);
    expect(run.stderr).toContain(`kart: error: oci:${other}:1 has no linux/arm64 kernel; it has linux/amd64`);
  });

  it('exits 2 and leaves a user directory alone', () => {
    const dest = join(work, 'mine');
    mkdirSync(dest);
    writeFileSync(join(dest, 'notes'), 'keep me');
    const run = kart(['unpack', `oci:${layout}:6.1`, '--dest', dest, '--arch', 'amd64']);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain(
      `kart: error: destination ${dest} is a directory kart did not make, and it is not empty`,
    );
    expect(readFileSync(join(dest, 'notes'), 'utf8')).toBe('keep me');
  });
});
