/**
 * The README's main job, run as a new user would: `bash scripts/demo.sh` in a fresh copy of the
 * working tree (no demo-store/, no demo-kernel/), reusing the cached Debian kernel and installed
 * node_modules so it downloads nothing. It must check against zone (and go on after its exit 1),
 * publish into the OCI layout, and pull the kernel back byte for byte.
 */
import { execFile, execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  createReadStream,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  copyFileSync,
  rmSync,
  symlinkSync,
  statSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { debianKernelPaths } from './support/debian-kernels.ts';

const run = promisify(execFile);
const REPO = resolve(import.meta.dirname, '..');
const copy = mkdtempSync(join(tmpdir(), 'kart-demo-tree-'));

afterAll(() => rmSync(copy, { recursive: true, force: true }));

async function sha256(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

describe('scripts/demo.sh', () => {
  it('fetches, checks against zone, publishes into ./demo-store and pulls back into ./demo-kernel', async () => {
    const files = execFileSync('git', ['ls-files', '-z', '--cached', '--others', '--exclude-standard'], {
      cwd: REPO,
    })
      .toString()
      .split('\0')
      .filter((f) => f.length > 0 && existsSync(join(REPO, f)) && statSync(join(REPO, f)).isFile());
    for (const file of files) {
      mkdirSync(dirname(join(copy, file)), { recursive: true });
      copyFileSync(join(REPO, file), join(copy, file));
    }
    for (const shared of ['node_modules', '.toolchain', '.cache']) {
      if (existsSync(join(REPO, shared))) symlinkSync(join(REPO, shared), join(copy, shared));
    }
    expect(existsSync(join(copy, 'demo-store'))).toBe(false);

    const { stdout } = await run('bash', ['scripts/demo.sh'], {
      cwd: copy,
      env: { ...process.env, PATH: `${dirname(process.execPath)}:${process.env.PATH ?? ''}` },
      maxBuffer: 16 * 1024 * 1024,
    });
    const kernel = debianKernelPaths('cloud-amd64');
    const config12 = (await sha256(kernel.config)).slice(0, 12);
    expect(stdout).toContain('==> 2/4 kart check --flavor zone');
    expect(stdout).toMatch(/FAILED: \d+ of \d+ requirements not met in 1 of 1 flavor \(zone\)/);
    expect(stdout).toContain("(exit 1, as expected: Debian's cloud kernel is not a zone kernel");
    expect(stdout).toContain(`published: 6.1.0 linux/amd64 flavor demo → oci:${copy}/demo-store`);
    expect(stdout).toContain('summary of kernels/sample.ini: 1 published, 0 failed, 0 not tried');
    expect(stdout).toContain(`installed oci:${copy}/demo-store:debian-cloud (linux/amd64`);

    const dest = join(copy, 'demo-kernel');
    expect(readFileSync(join(dest, 'metadata'), 'utf8')).toBe(
      [
        'KERNEL_ARCH=x86_64',
        'KERNEL_VERSION=6.1.0',
        `KERNEL_UNAME_R=${kernel.release}`,
        'KERNEL_FLAVOR=demo',
        `KERNEL_CONFIG=sha256:${await sha256(kernel.config)}`,
        `KERNEL_TAGS=6.1.0,6.1.0-${config12},debian-cloud`,
        '',
      ].join('\n'),
    );
    expect(await sha256(join(dest, 'kernel'))).toBe(await sha256(kernel.vmlinuz));
    expect(await sha256(join(dest, 'config'))).toBe(await sha256(kernel.config));
    const index = JSON.parse(readFileSync(join(copy, 'demo-store', 'index.json'), 'utf8')) as {
      manifests: { annotations?: Record<string, string> }[];
    };
    expect(index.manifests.map((m) => m.annotations?.['org.opencontainers.image.ref.name']).sort()).toEqual([
      '6',
      '6.1',
      '6.1.0',
      `6.1.0-${config12}`,
      'debian-cloud',
      'latest',
    ]);
  }, 600_000);
});
