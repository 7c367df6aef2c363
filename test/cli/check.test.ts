import { mkdtempSync, rmSync, writeFileSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, describe, expect, it } from 'vitest';
import { debianKernelPaths } from '../support/debian-kernels.ts';
import { runKartSync } from '../support/kart-cli.ts';

const ROOT = resolve(import.meta.dirname, '../..');
const scratch = mkdtempSync(join(tmpdir(), 'kart-check-cli-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

const kart = (args: string[], input?: Buffer | string) =>
  runKartSync(args, { cwd: ROOT, ...(input === undefined ? {} : { input }) });

function write(name: string, content: string | Buffer): string {
  const path = join(scratch, name);
  writeFileSync(path, content);
  return path;
}

// A config that meets dm-verity exactly.
const VERITY_OK =
  'CONFIG_MD=y\nCONFIG_BLK_DEV_DM=y\n# comment\nCONFIG_DM_INIT=y\nCONFIG_DM_VERITY=y\nCONFIG_CRYPTO_SHA256=y\n';

describe('kart check', () => {
  it('exits 0 with a text report when every requirement holds', () => {
    const path = write('ok.config', VERITY_OK);
    const run = kart(['check', '--flavor', 'dm-verity', path]);
    expect(run).toEqual({
      code: 0,
      stdout: `dm-verity (flavors/dm-verity.ini): all 5 required met\nOK: all 5 requirements met in 1 flavor (dm-verity); 0 warnings; config ${path}\n`,
      stderr: '',
    });
  });

  it('reads a config.gz by content, whatever its name', () => {
    const path = write('renamed.txt', gzipSync(VERITY_OK));
    const run = kart(['check', '--flavor', 'dm-verity', path]);
    expect(run.code).toBe(0);
    expect(
      run.stdout.endsWith(`OK: all 5 requirements met in 1 flavor (dm-verity); 0 warnings; config ${path}\n`),
    ).toBe(true);
  });

  it('exits 1 on the Debian cloud kernel for zone, grouped by flavor, summary last', () => {
    const { config } = debianKernelPaths('cloud-amd64');
    const line = readFileSync(config, 'utf8').split('\n').indexOf('# CONFIG_XEN_VIRTIO is not set') + 1;
    expect(line).toBeGreaterThan(0);
    const run = kart(['check', '--flavor', 'zone', '--flavor', 'dm-verity', config]);
    expect(run.code).toBe(1);
    expect(run.stderr).toBe('');
    const out = run.stdout.trimEnd().split('\n');
    expect(out[0]).toBe('zone (flavors/zone.ini): 9 of 37 required not met');
    expect(out).toContain(
      `  FAIL CONFIG_XEN_VIRTIO requires y but is not set (${config}:${line}; required by flavors/xen-guest.ini:44)`,
    );
    expect(out).toContain('dm-verity (flavors/dm-verity.ini): 3 of 5 required not met');
    expect(out).toContain(
      `  FAIL CONFIG_DM_INIT requires y but is absent (not in ${config}; required by flavors/dm-verity.ini:12)`,
    );
    expect(out.at(-1)).toBe(
      `FAILED: 12 of 42 requirements not met in 2 of 2 flavors (zone, dm-verity); 0 warnings; config ${config}`,
    );
  });

  it('reads stdin for - and writes GitHub annotations', () => {
    const run = kart(
      ['check', '--flavor', 'dm-verity', '--format', 'github', '-'],
      VERITY_OK.replace('CONFIG_DM_INIT=y', '# CONFIG_DM_INIT is not set'),
    );
    expect(run).toEqual({
      code: 1,
      stdout:
        '::error file=flavors/dm-verity.ini,line=12,title=dm-verity%3A CONFIG_DM_INIT::CONFIG_DM_INIT requires y but is not set (<stdin>:4; required by flavors/dm-verity.ini:12)\n' +
        'FAILED: 1 of 5 requirements not met in 1 of 1 flavor (dm-verity); 0 warnings; config <stdin>\n',
      stderr: '',
    });
  });

  it('--format json and --json print the report; --format junit prints one testcase per requirement', () => {
    const path = write('partial.config', VERITY_OK.replace('CONFIG_MD=y', 'CONFIG_MD=m'));
    for (const args of [['--format', 'json'], ['--json']]) {
      const run = kart(['check', '--flavor', 'dm-verity', ...args, path]);
      expect(run.code).toBe(1);
      const report = JSON.parse(run.stdout);
      expect(report.ok).toBe(false);
      expect(report.flavors[0].failures).toEqual([
        {
          symbol: 'CONFIG_MD',
          rule: 'y',
          level: 'require',
          ok: false,
          actual: 'm',
          configLine: 1,
          flavorFile: 'flavors/dm-verity.ini',
          flavorLine: 10,
          message: `CONFIG_MD requires y but is m (${path}:1; required by flavors/dm-verity.ini:10)`,
        },
      ]);
    }
    const junit = kart(['check', '--flavor', 'dm-verity', '--format', 'junit', path]);
    expect(junit.code).toBe(1);
    expect(junit.stdout.match(/<testcase /g)).toHaveLength(5);
    expect(junit.stdout).toContain('<testsuites name="kart check" tests="5" failures="1">');
    expect(junit.stdout).toContain(
      '<testcase classname="dm-verity" name="CONFIG_MD = y" file="flavors/dm-verity.ini" line="10">',
    );
  });

  it('accepts a flavor file by path that extends a shipped flavor', () => {
    const flavor = write(
      'mine.ini',
      'description = mine\nextends = dm-verity\n[require]\nCONFIG_DM_INIT = n\n[recommend]\nCONFIG_BPF = y\n',
    );
    const config = write('mine.config', VERITY_OK.replace('CONFIG_DM_INIT=y', '# CONFIG_DM_INIT is not set'));
    const run = kart(['check', '--flavor', flavor, config]);
    expect(run.code).toBe(0);
    expect(run.stdout).toBe(
      `mine (${flavor}): all 5 required met, 1 warning\n` +
        `  WARN CONFIG_BPF recommends y but is absent (not in ${config}; recommended by ${flavor}:6)\n` +
        `OK: all 5 requirements met in 1 flavor (mine); 1 warning; config ${config}\n`,
    );
  });

  describe('exits 2 on bad input, printing nothing on stdout', () => {
    const config = write('any.config', VERITY_OK);
    const cases: [string, () => string[], string][] = [
      [
        'an unknown flavor',
        () => ['check', '--flavor', 'zome', config],
        'kart: error: unknown flavor "zome"\nkart: hint: the shipped flavors are dm-verity, host, kvm-guest, xen-guest, zone; or pass the path of your own flavor file (e.g. ./my-flavor.ini)\n',
      ],
      [
        'a bad flavor file',
        () => ['check', '--flavor', write('bad.ini', '[require]\nCONFIG_XEN = yes\n'), config],
        `kart: error: ${join(scratch, 'bad.ini')}:2: CONFIG_XEN: unknown rule "yes"; expected y, m, n, a "quoted string", a number (decimal or 0x hex), >=N, <=N, or alternatives such as y|m\nkart: hint: a flavor file holds description/extends/repository/addons_max_bytes keys, then [require] and [recommend] sections of CONFIG_X = <rule> lines\n`,
      ],
      [
        'a cycle in extends',
        () => {
          write('a.ini', 'extends = ./b.ini\n');
          write('b.ini', 'extends = ./a.ini\n');
          return ['check', '--flavor', join(scratch, 'a.ini'), config];
        },
        `kart: error: ${join(scratch, 'b.ini')}:1: extends "./a.ini" makes a cycle: a → b → a\nkart: hint: remove one of the extends in that cycle\n`,
      ],
      [
        'an unreadable config',
        () => ['check', '--flavor', 'zone', join(scratch, 'nope.config')],
        `kart: error: cannot read ${join(scratch, 'nope.config')}: ENOENT: no such file or directory\nkart: hint: check that the path exists and is a readable file\n`,
      ],
      [
        'a config that sets no symbol (an empty file, or only comments)',
        () => ['check', '--flavor', 'zone', write('empty.config', '# Linux kernel configuration\n\n')],
        `kart: error: ${join(scratch, 'empty.config')}: no CONFIG_ symbol in it; a kernel .config sets thousands\nkart: hint: pass a kernel .config (for example /boot/config-$(uname -r)), a config.gz such as /proc/config.gz, or - for stdin\n`,
      ],
      [
        'no --flavor',
        () => ['check', config],
        'kart: error: kart check needs at least one --flavor\nkart: hint: name a shipped flavor (kart flavors lists them) or a flavor file, e.g. --flavor zone\n',
      ],
      [
        'an unknown --format',
        () => ['check', '--flavor', 'zone', '--format', 'xml', config],
        'kart: error: unknown --format "xml"\nkart: hint: use one of text, json, github, junit\n',
      ],
    ];
    for (const [what, args, stderr] of cases) {
      it(what, () => {
        expect(kart(args())).toEqual({ code: 2, stdout: '', stderr });
      });
    }

    it('an empty stdin (say, a zcat that failed upstream of the pipe)', () => {
      const run = kart(['check', '--flavor', 'dm-verity', '-'], '');
      expect(run).toEqual({
        code: 2,
        stdout: '',
        stderr: expect.stringMatching(/^kart: error: <stdin>: no CONFIG_ symbol in it; /),
      });
    });

    it('a file that is not a kernel config', () => {
      const run = kart([
        'check',
        '--flavor',
        'zone',
        write('binary.config', Buffer.from([0x43, 0xff, 0xfe, 0x0a])),
      ]);
      expect(run.code).toBe(2);
      expect(run.stdout).toBe('');
      expect(run.stderr).toMatch(
        /^kart: error: .*binary\.config: is not UTF-8 text; this is not a kernel \.config\n/,
      );
    });

    it('an ELF that is not a kernel (taken as a vmlinux by its bytes)', () => {
      expect(kart(['check', '--flavor', 'zone', '/bin/sh'])).toEqual({
        code: 2,
        stdout: '',
        stderr:
          'kart: error: vmlinux ELF /bin/sh holds no "Linux version <release> ..." banner, so its release is unknown\n' +
          'kart: hint: is this a Linux kernel? kart reads the release from the banner every kernel build embeds\n',
      });
    });

    it('errors are JSON with --json', () => {
      const run = kart(['check', '--json', '--flavor', 'zome', config]);
      expect(run.code).toBe(2);
      expect(JSON.parse(run.stdout).error).toMatchObject({
        code: 'FLAVOR_NOT_FOUND',
        message: 'unknown flavor "zome"',
      });
    });
  });
});
