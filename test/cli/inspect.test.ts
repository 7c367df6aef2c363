import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { runKartSync } from '../support/kart-cli.ts';
import { makeSyntheticBuild, type SyntheticBuild } from '../kernel/artifact/pack-fixtures.ts';

const kart = (args: string[]) => runKartSync(args, { env: { ...process.env, SOURCE_DATE_EPOCH: '0' } });

let build: SyntheticBuild;
let layout: string;
let packed: {
  manifest: { digest: string };
  files: { path: string; layer: { digest: string; size: number } }[];
};
beforeAll(() => {
  build = makeSyntheticBuild();
  layout = join(mkdtempSync(join(tmpdir(), 'kart-cli-inspect-')), 'layout');
  const run = kart([
    'pack',
    '--kernel',
    build.bzImage,
    '--config',
    build.config,
    '--flavor',
    build.flavor,
    '--tag',
    'stable',
    '-o',
    `oci:${layout}:6.1`,
    '--json',
  ]);
  expect(run.code).toBe(0);
  packed = JSON.parse(run.stdout) as typeof packed;
});

describe('kart inspect', () => {
  it('shows platforms, manifest digest, files, metadata and annotations as JSON', () => {
    const run = kart(['inspect', `oci:${layout}:6.1`, '--json']);
    expect(run.code).toBe(0);
    const result = JSON.parse(run.stdout) as {
      platforms: {
        platform: string;
        manifest: { digest: string };
        files: { path: string; digest: string; size: number }[];
        metadata: Record<string, unknown>;
        annotations: Record<string, string>;
      }[];
    };
    expect(result.platforms).toHaveLength(1);
    const amd = result.platforms[0]!;
    expect(amd.platform).toBe('linux/amd64');
    expect(amd.manifest.digest).toBe(packed.manifest.digest);
    expect(amd.files.map((f) => [f.path, f.digest, f.size])).toEqual(
      packed.files.map((f) => [f.path, f.layer.digest, f.layer.size]),
    );
    expect(amd.metadata).toMatchObject({
      arch: 'x86_64',
      version: '6.1.99',
      unameRelease: '6.1.99-demo',
      flavor: 'demo',
      tags: ['6.1', 'stable'],
    });
    expect(amd.annotations['dev.edera.kernel.format']).toBe('1');
  });

  it('prints a text summary', () => {
    const run = kart(['inspect', `oci:${layout}:stable`]);
    expect(run.code).toBe(0);
    expect(run.stdout).toContain(`linux/amd64: manifest ${packed.manifest.digest}`);
    expect(run.stdout).toContain(
      'KERNEL_ARCH=x86_64 KERNEL_VERSION=6.1.99 KERNEL_UNAME_R=6.1.99-demo KERNEL_FLAVOR=demo',
    );
  });

  it('exits 2 for an unknown tag, naming the tags there are', () => {
    const run = kart(['inspect', `oci:${layout}:nope`]);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain('kart: error: tag "nope" is not in');
    expect(run.stderr).toContain('6.1, stable');
  });
});

describe('transport flags', () => {
  it.each(['inspect', 'unpack', 'publish', 'copy', 'push', 'pull', 'tag', 'tags', 'resolve', 'login'])(
    'kart %s takes --plain-http, --insecure and --ca-file, defined once',
    (command) => {
      const run = kart([command, '--help']);
      expect(run.code).toBe(0);
      const help = run.stdout.replace(/\s+/g, ' ');
      expect(help).toContain(
        '--plain-http talk HTTP, not HTTPS, to the registry (the default for localhost, 127.0.0.0/8 and [::1])',
      );
      expect(help).toContain("--insecure HTTPS without verifying the registry's certificate");
      expect(help).toContain('--ca-file <pem> trust the CA certificates in this PEM file');
    },
  );
});
