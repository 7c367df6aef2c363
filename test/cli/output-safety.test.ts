/**
 * Where the CLI writes: through symlinks (as docker does), never over a FIFO or device, `-o -` is
 * stdout; path mistakes are input errors (exit 2) naming the path; read-only cache commands create
 * nothing; usage errors honour --json; an old Node gets a message, not a stack trace.
 */
import { spawnSync } from 'node:child_process';
import {
  existsSync,
  lstatSync,
  mkdtempSync,
  readFileSync,
  readlinkSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { KART, runKartSync } from '../support/kart-cli.ts';

const work = mkdtempSync(join(tmpdir(), 'kart-output-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));
const base = join(work, 'base.config');
const fragment = join(work, 'frag.config');
writeFileSync(base, 'CONFIG_A=y\n');
writeFileSync(fragment, 'CONFIG_B=m\n');
const MERGED = 'CONFIG_A=y\nCONFIG_B=m\n';

describe('config merge -o', () => {
  it('writes through a symlink: the link stays, the file it names gets the config', () => {
    const real = join(work, 'real.config');
    writeFileSync(real, 'old\n');
    const link = join(work, 'link.config');
    symlinkSync('real.config', link);
    const run = runKartSync(['config', 'merge', base, fragment, '-o', link]);
    expect(run.code, run.stderr).toBe(0);
    expect(lstatSync(link).isSymbolicLink()).toBe(true);
    expect(readlinkSync(link)).toBe('real.config');
    expect(readFileSync(real, 'utf8')).toBe(MERGED);
  });

  it('refuses a FIFO (and so a device) with OUTPUT_NOT_REGULAR_FILE, leaving it a FIFO', () => {
    const fifo = join(work, 'fifo');
    expect(spawnSync('mkfifo', [fifo]).status).toBe(0);
    const run = runKartSync(['config', 'merge', base, fragment, '-o', fifo, '--json']);
    expect(run.code).toBe(2);
    expect(JSON.parse(run.stdout).error.code).toBe('OUTPUT_NOT_REGULAR_FILE');
    expect(lstatSync(fifo).isFIFO()).toBe(true);
    const device = runKartSync(['config', 'merge', base, fragment, '-o', '/dev/null']);
    expect(device.code).toBe(2);
    expect(device.stderr).toContain('/dev/null is a character device');
  });

  it('-o - writes the config to stdout', () => {
    const run = runKartSync(['config', 'merge', base, fragment, '-o', '-']);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toBe(MERGED);
  });

  it('a missing directory is an input error naming the path, not a bug', () => {
    const path = join(work, 'missing', 'out.config');
    const run = runKartSync(['config', 'merge', base, fragment, '-o', path, '--json']);
    expect(run.code).toBe(2);
    expect(JSON.parse(run.stdout).error).toMatchObject({
      code: 'OUTPUT_UNWRITABLE',
      message: `cannot write ${path}: its directory does not exist`,
    });
  });
});

describe('path errors elsewhere', () => {
  const file = join(work, 'a-file');
  writeFileSync(file, 'x');

  it('config split --output-dir where a file stands: OUTPUT_UNWRITABLE, exit 2', () => {
    const run = runKartSync(['config', 'split', base, fragment, '--output-dir', file, '--json']);
    expect(run.code).toBe(2);
    expect(JSON.parse(run.stdout).error.code).toBe('OUTPUT_UNWRITABLE');
  });

  it('--cache under a file: CACHE_UNUSABLE, exit 2, for pull -k and cache ls', () => {
    const cache = join(file, 'cache');
    const pull = runKartSync([
      'pull',
      '-k',
      '127.0.0.1:1/x:y',
      '--dest',
      join(work, 'd'),
      '--cache',
      cache,
      '--json',
    ]);
    expect(pull.code).toBe(2);
    expect(JSON.parse(pull.stdout).error.code).toBe('CACHE_UNUSABLE');
    const ls = runKartSync(['cache', 'ls', '--cache', cache, '--json']);
    expect(ls.code).toBe(2);
    expect(JSON.parse(ls.stdout).error.code).toBe('CACHE_UNUSABLE');
  });

  it('cache ls / verify / prune and pull -k --offline on a missing --cache create nothing', () => {
    const cache = join(work, 'no', 'cache');
    for (const sub of ['ls', 'verify', 'prune']) {
      const run = runKartSync(['cache', sub, '--cache', cache, '--json']);
      expect(run.code, run.stderr).toBe(0);
    }
    const offline = [
      'pull',
      '-k',
      'reg.example/k:1',
      '--offline',
      '--dest',
      join(work, 'o'),
      '--cache',
      cache,
    ];
    const pulled = runKartSync([...offline, '--json']);
    expect(pulled.code).toBe(1);
    expect(JSON.parse(pulled.stdout).error.code).toBe('OFFLINE_NOT_CACHED');
    expect(existsSync(join(work, 'no'))).toBe(false);
  });
});

describe('usage errors', () => {
  it('honour --json', () => {
    const run = runKartSync(['pull', '--no-such-option', '--json']);
    expect(run.code).toBe(2);
    expect(run.stderr).toBe('');
    expect(JSON.parse(run.stdout).error).toMatchObject({
      code: 'USAGE_INVALID',
      message: "unknown option '--no-such-option'",
    });
  });
});

describe('bin/kart.js on an old Node', () => {
  it("says which Node it needs and how to get it (the system's Node: Debian 12's 18, or 20)", () => {
    // The system Node the set-up scripts leave (npm's Debian dependency), older than kart needs.
    const version = spawnSync('/usr/bin/node', ['--version'], { encoding: 'utf8' }).stdout.trim().slice(1);
    expect(Number(version.split('.')[0])).toBeLessThan(22);
    const run = spawnSync('/usr/bin/node', [KART, '--version'], { encoding: 'utf8' });
    expect(run.status).toBe(2);
    expect(run.stderr).toMatch(
      new RegExp(
        `^kart: error: Node ${version.replaceAll('.', '\\.')} is too old; kart needs Node 22\\.19 or later`,
      ),
    );
    expect(run.stderr).toContain('. scripts/toolchain.sh');
  });
});
