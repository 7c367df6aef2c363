/**
 * Real kernels for tests: Debian's linux-image packages, fetched with `apt-get download` (the
 * metapackage names the versioned package that holds the files) and unpacked with `dpkg-deb -x`
 * into the git-ignored .cache/debian-kernels/, so a machine downloads each package once.
 *
 * Call ensureDebianKernel() from vitest's global setup (it is slow the first time); tests then use
 * debianKernelPaths(), which only computes paths and checks they exist.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

export type DebianFlavor = 'cloud-amd64' | 'amd64';
export const CACHE_ROOT = resolve(import.meta.dirname, '../../.cache/debian-kernels');
const FETCH_SCRIPT = resolve(import.meta.dirname, '../../scripts/fetch-debian-kernel.sh');

export interface DebianKernel {
  /** the kernel's modules squashed into addons.squashfs (built once by the global setup) */
  addons: string;
  /** `uname -r`, e.g. 6.1.0-56-cloud-amd64 */
  release: string;
  /** the unpacked package root (holds boot/ and lib/modules/) */
  root: string;
  vmlinuz: string;
  config: string;
  modulesDir: string;
}

function need(command: string, pkg: string): void {
  try {
    execFileSync('sh', ['-c', `command -v ${command}`], { stdio: 'ignore' });
  } catch {
    throw new Error(
      `test setup: "${command}" is missing; install the Debian package: apt-get install -y ${pkg}`,
    );
  }
}

/**
 * Downloads and unpacks Debian's linux-image-<flavor> once; returns where it is. The fetching is
 * scripts/fetch-debian-kernel.sh, the same script the README's demo runs, so a fresh CI machine
 * exercises its download branch and every later run its cached one.
 */
export function ensureDebianKernel(flavor: DebianFlavor): DebianKernel {
  if (existsSync(join(CACHE_ROOT, `${flavor}.release`))) return debianKernelPaths(flavor);
  need('apt-get', 'apt');
  need('dpkg-deb', 'dpkg');
  const printed = execFileSync('bash', [FETCH_SCRIPT, flavor], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
  }).trim();
  if (printed !== join(CACHE_ROOT, flavor)) {
    throw new Error(
      `test setup: ${FETCH_SCRIPT} ${flavor} printed ${printed}, not ${join(CACHE_ROOT, flavor)}`,
    );
  }
  return debianKernelPaths(flavor);
}

/** Paths of an already-fetched kernel (global setup fetched it). */
export function debianKernelPaths(flavor: DebianFlavor): DebianKernel {
  const marker = join(CACHE_ROOT, `${flavor}.release`);
  if (!existsSync(marker)) {
    throw new Error(`test setup: Debian kernel ${flavor} is not cached; vitest's global setup fetches it`);
  }
  const release = readFileSync(marker, 'utf8').trim();
  const root = join(CACHE_ROOT, flavor);
  return {
    release,
    root,
    vmlinuz: join(root, 'boot', `vmlinuz-${release}`),
    config: join(root, 'boot', `config-${release}`),
    modulesDir: join(root, 'lib', 'modules', release),
    addons: join(CACHE_ROOT, `${flavor}.addons.squashfs`),
  };
}

/**
 * Squashes the kernel's modules once (mksquashfs over ~90-400 MB is the slowest step any test has), so
 * that tests needing a real addons.squashfs share one. Only the tests of `--modules` itself squash anew.
 */
export async function ensureDebianAddons(flavor: DebianFlavor): Promise<string> {
  const kernel = debianKernelPaths(flavor);
  if (existsSync(kernel.addons)) return kernel.addons;
  const { buildAddonsFromModules } = await import('../../src/kernel/addons/index.ts');
  await buildAddonsFromModules(kernel.modulesDir, kernel.addons, { sourceDateEpoch: 0 });
  return kernel.addons;
}
