/**
 * The set-up scripts on machines this one is not, with the commands they call replaced by stubs that
 * record their arguments: debian-deps.sh on a machine with no npm installs Debian's npm and waits for
 * the dpkg lock; toolchain.sh fetches the Node build for the machine's arch (x64 or arm64).
 */
import { spawnSync } from 'node:child_process';
import {
  chmodSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

const ROOT = resolve(import.meta.dirname, '../..');
const work = mkdtempSync(join(tmpdir(), 'kart-setup-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

/** A bin directory holding `stubs` (name → bash body) and links to the real `tools`. */
function binDir(name: string, stubs: Record<string, string>, tools: string[]): string {
  const dir = join(work, name, 'bin');
  mkdirSync(dir, { recursive: true });
  for (const [command, body] of Object.entries(stubs)) {
    writeFileSync(join(dir, command), `#!/bin/bash\n${body}\n`);
    chmodSync(join(dir, command), 0o755);
  }
  for (const tool of tools) symlinkSync(`/usr/bin/${tool}`, join(dir, tool));
  return dir;
}

describe('scripts/debian-deps.sh', () => {
  it('installs npm when there is none, waiting for the dpkg lock', () => {
    const log = join(work, 'apt.log');
    const bin = binDir(
      'no-npm',
      {
        'dpkg-query': "printf 'install ok installed'",
        'apt-get': `echo "$*" >> ${log}`,
        id: 'echo 0',
      },
      ['grep'],
    );
    const run = spawnSync('/bin/bash', ['-c', `. ${join(ROOT, 'scripts/debian-deps.sh')}`], {
      env: { PATH: bin },
      encoding: 'utf8',
    });
    expect(run.status, run.stderr).toBe(0);
    expect(run.stderr).toContain('kart: installing Debian packages: npm');
    expect(readFileSync(log, 'utf8').trim().split('\n')).toEqual([
      '-o DPkg::Lock::Timeout=600 update -qq',
      '-o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends npm',
    ]);
  });
});

describe('scripts/toolchain.sh', () => {
  for (const [machine, arch] of [
    ['aarch64', 'arm64'],
    ['x86_64', 'x64'],
  ] as const) {
    it(`on ${machine} (system Node 20) fetches node-linux-${arch}@24`, () => {
      const root = join(work, `root-${arch}`);
      mkdirSync(join(root, 'scripts'), { recursive: true });
      copyFileSync(join(ROOT, 'scripts/toolchain.sh'), join(root, 'scripts/toolchain.sh'));
      const log = join(work, `npm-${arch}.log`);
      const bin = binDir(
        `arch-${arch}`,
        {
          uname: `[ "$1" = -m ] && echo ${machine}`,
          // An old system Node: --version says 20, the version check fails.
          node: '[ "$1" = --version ] && echo v20.20.2 && exit 0; exit 1',
          // `npm pack node-linux-<arch>@24` leaves a package tarball holding bin/node.
          npm: [
            `echo "$*" >> ${log}`,
            'pkg="${@: -1}"; name="${pkg%@*}"',
            'mkdir -p p/package/bin && printf "#!/bin/sh\\necho v24.0.0\\n" > p/package/bin/node && chmod +x p/package/bin/node',
            'tar -czf "$name-24.0.0.tgz" -C p package && rm -rf p',
          ].join('\n'),
        },
        ['tar', 'gzip', 'mkdir', 'mktemp', 'rm', 'dirname', 'chmod'],
      );
      const run = spawnSync(
        '/bin/bash',
        ['-c', `. ${join(root, 'scripts/toolchain.sh')} && node --version`],
        {
          env: { PATH: bin },
          encoding: 'utf8',
        },
      );
      expect(run.status, run.stderr).toBe(0);
      expect(readFileSync(log, 'utf8').trim()).toBe(`pack --silent node-linux-${arch}@24`);
      expect(existsSync(join(root, '.toolchain/node/bin/node'))).toBe(true);
      expect(run.stdout.trim()).toBe('v24.0.0');
    });
  }
});

describe('scripts/test.sh', () => {
  it('runs the tests from a hard-linked copy under /var/tmp when nobody cannot read the checkout (as root)', () => {
    // A checkout inside a 0700 directory, as one cloned under /root; the parts are stubs.
    const checkout = join(work, 'private', 'kart');
    mkdirSync(join(checkout, 'scripts'), { recursive: true });
    mkdirSync(join(checkout, 'bin'), { recursive: true });
    mkdirSync(join(checkout, 'node_modules'), { recursive: true });
    chmodSync(join(work, 'private'), 0o700);
    copyFileSync(join(ROOT, 'scripts/test.sh'), join(checkout, 'scripts/test.sh'));
    writeFileSync(join(checkout, 'scripts/debian-deps.sh'), ': # stub\n');
    writeFileSync(join(checkout, 'scripts/toolchain.sh'), ': # stub\n');
    writeFileSync(join(checkout, 'bin/kart.js'), '// stub\n');
    writeFileSync(join(checkout, 'package-lock.json'), '{}\n');
    writeFileSync(join(checkout, 'node_modules/.package-lock.json'), '{}\n');
    const log = join(work, 'npm-test.log');
    const bin = binDir('test-sh', { npm: `echo "$* in $PWD; "$(ls) >> ${log}`, node: 'exit 0' }, []);
    chmodSync(join(work, 'test-sh'), 0o755);
    const run = spawnSync('/bin/bash', [join(checkout, 'scripts/test.sh')], {
      env: { PATH: `${bin}:/usr/bin:/bin` },
      encoding: 'utf8',
    });
    expect(run.status, run.stderr).toBe(0);
    const line = readFileSync(log, 'utf8').trim().split('\n').at(-1);
    if (process.getuid?.() === 0) {
      expect(line).toMatch(
        /^test in \/var\/tmp\/kart-tests\.[A-Za-z0-9]{6}\/kart; bin node_modules package-lock.json scripts$/,
      );
      expect(run.stderr).toContain(
        `kart: nobody cannot read ${checkout}; running the tests in /var/tmp/kart-tests.`,
      );
      // The copy is gone afterwards.
      expect(existsSync(line!.slice('test in '.length, line!.indexOf(';')))).toBe(false);
    } else {
      expect(line).toBe(`test in ${checkout}; bin node_modules package-lock.json scripts`);
    }
  });
});
