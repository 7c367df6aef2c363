import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { debianKernelPaths } from '../support/debian-kernels.ts';
import { runKartSync } from '../support/kart-cli.ts';

const kart = (args: string[], input?: string | Buffer) =>
  runKartSync(['config', ...args], { cwd: dir, ...(input === undefined ? {} : { input }) });

let dir: string;
const file = (name: string, text: string | Buffer) => {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
};
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'kart-cli-config-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('kart config diff', () => {
  it('prints the differences and exits 1; reads stdin and gzip', () => {
    const a = file('a.config', 'CONFIG_A=y\n# CONFIG_B is not set\n');
    const r = kart(['diff', a, '-'], gzipSync('CONFIG_A=m\nCONFIG_C=y\n'));
    expect(r.stdout).toBe(
      [
        `- # CONFIG_B is not set  (${a}:2)`,
        '+ CONFIG_C=y  (<stdin>:2)',
        `~ CONFIG_A: y -> m  (${a}:1, <stdin>:1)`,
        '3 differences: 1 removed, 1 added, 1 changed',
        '',
      ].join('\n'),
    );
    expect(r.stderr).toBe('');
    expect(r.code).toBe(1);
  });

  it('exits 0 for identical configs; --json has the lists', () => {
    const a = file('same.config', 'CONFIG_A=y\n');
    expect(kart(['diff', a, a])).toEqual({
      code: 0,
      stdout: `no differences between ${a} and ${a}\n`,
      stderr: '',
    });
    const r = kart(['diff', a, a, '--json']);
    expect(JSON.parse(r.stdout)).toEqual({ before: a, after: a, removed: [], added: [], changed: [] });
  });

  it('on the real Debian configs: finds CONFIG_XEN_DOM0 off in cloud and on in the generic kernel', () => {
    const cloud = debianKernelPaths('cloud-amd64').config;
    const generic = debianKernelPaths('amd64').config;
    const r = kart(['diff', cloud, generic, '--json']);
    expect(r.code).toBe(1);
    const diff = JSON.parse(r.stdout) as { changed: Array<{ name: string; before: string; after: string }> };
    expect(diff.changed.find((c) => c.name === 'CONFIG_XEN_DOM0')).toMatchObject({
      before: 'is not set',
      after: 'y',
    });
  });

  it('exit 2 with CONFIG_UNREADABLE for a missing file', () => {
    const r = kart(['diff', join(dir, 'nope'), join(dir, 'nope')]);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toBe(
      `kart: error: cannot read ${join(dir, 'nope')}: ENOENT: no such file or directory\nkart: hint: check that the path exists and is a readable file\n`,
    );
  });

  it('exit 2 with CONFIG_INVALID as JSON for a file that is not a config', () => {
    const bad = file('notes.txt', 'hello\n');
    const r = kart(['diff', bad, bad, '--json']);
    expect(r.code).toBe(2);
    expect(JSON.parse(r.stdout).error).toMatchObject({
      code: 'CONFIG_INVALID',
      message: `${bad}:1: expected CONFIG_NAME=value, "# CONFIG_NAME is not set", a # comment or a blank line, but found "hello"`,
    });
  });

  it('exit 2 with CONFIG_STDIN_TWICE when - is given twice', () => {
    const r = kart(['diff', '-', '-'], 'CONFIG_A=y\n');
    expect(r.code).toBe(2);
    expect(r.stderr).toBe(
      'kart: error: stdin (-) can be given only once\nkart: hint: save one of the inputs to a file and pass its path\n',
    );
  });

  it('prints duplicate-symbol warnings to stderr', () => {
    const dup = file('dup.config', 'CONFIG_A=y\nCONFIG_A=m\n');
    const r = kart(['diff', dup, dup]);
    expect(r.code).toBe(0);
    expect(r.stderr).toBe(
      [
        `kart: warning: ${dup}:2: CONFIG_A is set again (before on line 1); the value on line 2 wins`,
        `kart: warning: ${dup}:2: CONFIG_A is set again (before on line 1); the value on line 2 wins`,
        '',
      ].join('\n'),
    );
  });
});

describe('kart config split', () => {
  it('prints the common part and each own part', () => {
    const a = file('x86', 'CONFIG_X86=y\nCONFIG_PCI=y\n');
    const b = file('arm', 'CONFIG_ARM64=y\nCONFIG_PCI=y\n');
    const r = kart(['split', a, b]);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(
      `# common (1 symbol)\nCONFIG_PCI=y\n# ${a} (1 symbol)\nCONFIG_X86=y\n# ${b} (1 symbol)\nCONFIG_ARM64=y\n`,
    );
  });

  it('--output-dir writes split-* files that recombine to the real Debian configs', () => {
    const cloud = debianKernelPaths('cloud-amd64').config;
    const generic = debianKernelPaths('amd64').config;
    const out = join(dir, 'split');
    const r = kart(['split', cloud, generic, '--output-dir', out]);
    expect(r.code).toBe(0);
    const names = ['split-common', `split-${cloud.split('/').at(-1)}`, `split-${generic.split('/').at(-1)}`];
    expect(r.stdout).toBe(names.map((n) => `wrote ${join(out, n)}\n`).join(''));
    const lines = (path: string) =>
      readFileSync(path, 'utf8')
        .split('\n')
        .filter((l) => /^CONFIG_|^# CONFIG_\w+ is not set/.test(l));
    const common = lines(join(out, names[0]!));
    expect([...common, ...lines(join(out, names[1]!))].sort()).toEqual(lines(cloud).sort());
    expect([...common, ...lines(join(out, names[2]!))].sort()).toEqual(lines(generic).sort());
    expect(common).toContain('CONFIG_XEN=y');
  });

  it('exit 2 and nothing written when two inputs share a name', () => {
    const one = join(dir, 'one');
    const two = join(dir, 'two');
    for (const d of [one, two]) mkdirSync(d, { recursive: true });
    writeFileSync(join(one, 'config'), 'CONFIG_A=y\n');
    writeFileSync(join(two, 'config'), 'CONFIG_A=m\n');
    const out = join(dir, 'clash-out');
    const r = kart(['split', join(one, 'config'), join(two, 'config'), '--output-dir', out]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(
      `kart: error: config split would write split-config for both ${join(one, 'config')} and ${join(two, 'config')}; nothing was written\n`,
    );
    expect(existsSync(out)).toBe(false);
  });
});

describe('kart config merge', () => {
  it('prints the merged config on stdout and the overrides on stderr', () => {
    const base = file('base.config', 'CONFIG_A=y\nCONFIG_B=m\n');
    const frag = file('frag.conf', 'CONFIG_B=y\nCONFIG_C=y\n');
    const r = kart(['merge', base, frag]);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe('CONFIG_A=y\nCONFIG_B=y\nCONFIG_C=y\n');
    expect(r.stderr).toBe(
      `CONFIG_B: m (${base}:2) overridden by y (${frag}:1)\nmerged 1 fragment: 1 override, 0 redundant\n`,
    );
  });

  it('-o writes the file and prints the report; --json reports overrides', () => {
    const base = file('base2.config', 'CONFIG_A=y\n');
    const frag = file('frag2.conf', '# CONFIG_A is not set\n');
    const out = join(dir, 'merged.config');
    const r = kart(['merge', base, frag, '-o', out]);
    expect(r.code).toBe(0);
    expect(readFileSync(out, 'utf8')).toBe('# CONFIG_A is not set\n');
    expect(r.stdout).toBe(
      `CONFIG_A: y (${base}:1) overridden by is not set (${frag}:1)\nmerged 1 fragment: 1 override, 0 redundant\n`,
    );
    const json = JSON.parse(kart(['merge', base, frag, '--json']).stdout);
    expect(json).toEqual({
      overrides: [
        {
          name: 'CONFIG_A',
          from: 'y',
          to: 'is not set',
          overridden: [{ source: base, line: 1 }],
          by: { source: frag, line: 1 },
        },
      ],
      redundant: [],
      warnings: [],
      config: '# CONFIG_A is not set\n',
    });
  });

  it('exit 2 and no output file when a fragment is not a config', () => {
    const base = file('base3.config', 'CONFIG_A=y\n');
    const bad = file('bad.conf', 'CONFIG_A = y\n');
    const out = join(dir, 'never.config');
    const r = kart(['merge', base, bad, '-o', out]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`kart: error: ${bad}:1: expected CONFIG_NAME=value`);
    expect(existsSync(out)).toBe(false);
  });
});

describe('kart config verify-fragments', () => {
  it('exit 1 naming each lost value; the real cloud kernel lost CONFIG_XEN_VIRTIO', () => {
    const cloud = debianKernelPaths('cloud-amd64').config;
    const line = readFileSync(cloud, 'utf8').split('\n').indexOf('# CONFIG_XEN_VIRTIO is not set') + 1;
    const frag = file('xen.conf', 'CONFIG_XEN=y\nCONFIG_XEN_VIRTIO=y\n');
    const r = kart(['verify-fragments', cloud, frag]);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe(
      `CONFIG_XEN_VIRTIO: requested y (${frag}:2), final not set (${cloud}:${line})\n1 of 2 requested values did not survive\n`,
    );
  });

  it('exit 0 when the allow-list excuses the loss; unused names are reported', () => {
    const final = file('final.config', 'CONFIG_A=y\n');
    const frag = file('want.conf', 'CONFIG_A=y\nCONFIG_OLD=y\n');
    const allow = file('allow.txt', '# dropped upstream\n\nCONFIG_OLD\nCONFIG_STALE\n');
    const r = kart(['verify-fragments', final, frag, '--allow', allow]);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(
      [
        `allowed: CONFIG_OLD: requested y (${frag}:2), final absent from ${final}`,
        `unused allow-list entry: CONFIG_STALE (${allow}:4)`,
        'all 2 requested values survived (1 more allowed)',
        '',
      ].join('\n'),
    );
  });

  it('a blank line in the allow-list excuses nothing (the Kata whitelist bug)', () => {
    const final = file('final2.config', 'CONFIG_A=y\n');
    const frag = file('want2.conf', 'CONFIG_VIRTIO_FS=y\n');
    const allow = file('blank.txt', 'CONFIG_X86_SGX\n\n');
    const r = kart(['verify-fragments', final, frag, '--allow', allow, '--json']);
    expect(r.code).toBe(1);
    expect(JSON.parse(r.stdout)).toEqual({
      ok: false,
      checked: 1,
      lost: [{ name: 'CONFIG_VIRTIO_FS', requested: { source: frag, line: 1, value: 'y' }, actual: null }],
      allowed: [],
      unusedAllowed: [{ name: 'CONFIG_X86_SGX', line: 1 }],
    });
  });

  it('exit 2 with CONFIG_ALLOWLIST_INVALID for a pattern in the allow-list', () => {
    const final = file('final3.config', 'CONFIG_A=y\n');
    const allow = file('regex.txt', 'CONFIG_MTRR.*\n');
    const r = kart(['verify-fragments', final, final, '--allow', allow]);
    expect(r.code).toBe(2);
    expect(r.stderr).toBe(
      `kart: error: ${allow}:1: expected one exact symbol name such as CONFIG_X86_SGX (a # comment may follow), but found "CONFIG_MTRR.*"\nkart: hint: write one CONFIG_ name per line; patterns and wildcards are not supported\n`,
    );
  });
});
