/**
 * Real kernels for tests: Debian's linux-image packages, fetched with `apt-get download` (the
 * metapackage names the versioned package that holds the files) and unpacked with `dpkg-deb -x`
 * into the git-ignored .cache/debian-kernels/, so a machine downloads each package once.
 *
 * Call ensureDebianKernel() from vitest's global setup (it is slow the first time); tests then use
 * debianKernelPaths(), which only computes paths and checks they exist.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, renameSync, rmSync, writeFileSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

export type DebianFlavor = 'cloud-amd64' | 'amd64';
export const CACHE_ROOT = resolve(import.meta.dirname, '../../.cache/debian-kernels');

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

/** Downloads and unpacks Debian's linux-image-<flavor> once; returns where it is. */
export function ensureDebianKernel(flavor: DebianFlavor): DebianKernel {
  const marker = join(CACHE_ROOT, `${flavor}.release`);
  if (existsSync(marker)) return debianKernelPaths(flavor);
  need('apt-get', 'apt');
  need('dpkg-deb', 'dpkg');
  mkdirSync(CACHE_ROOT, { recursive: true });
  const depends = execFileSync('apt-cache', ['depends', `linux-image-${flavor}`], { encoding: 'utf8' });
  const pkg = /Depends: (linux-image-[0-9][^\s]*)/.exec(depends)?.[1];
  if (!pkg) {
    throw new Error(
      `test setup: apt-cache knows no linux-image-${flavor}; run "apt-get update" first (Debian's package lists are needed)`,
    );
  }
  const release = pkg.replace(/^linux-image-/, '').replace(/-unsigned$/, '');
  const work = join(CACHE_ROOT, `${flavor}.tmp-${process.pid}`);
  rmSync(work, { recursive: true, force: true });
  mkdirSync(work, { recursive: true });
  execFileSync('apt-get', ['download', '-q', pkg], { cwd: work, stdio: ['ignore', 'ignore', 'inherit'] });
  const deb = readdirSync(work).find((f) => f.endsWith('.deb'));
  if (!deb) throw new Error(`test setup: apt-get download ${pkg} produced no .deb`);
  const root = join(work, 'root');
  execFileSync('dpkg-deb', ['-x', join(work, deb), root]);
  rmSync(join(work, deb));
  const final = join(CACHE_ROOT, flavor);
  rmSync(final, { recursive: true, force: true });
  renameSync(root, final);
  rmSync(work, { recursive: true, force: true });
  writeFileSync(marker, `${release}\n`);
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
