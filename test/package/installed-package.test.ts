/**
 * kart as a user installs it: `npm pack` (which builds dist/), the tarball installed into a scratch
 * project (kart itself from the local tarball, its dependencies from the npm registry), then
 *   - `npx kart` runs the bundled CLI (dist/bundle/cli/, not the per-file dist/cli/): --version, the
 *     shipped flavors, and a push and pull -k against the real registry,
 *   - a plain-JS program importing `kart` and `kart/oci` packs a real Debian kernel, pushes it to the
 *     real registry and pulls it back with pull -k,
 *   - a TypeScript consumer with a default `tsc --init` config compiles against the types with zero
 *     errors.
 * No source file of the checkout is reachable from the scratch project: it sees only the tarball.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  renameSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { debianKernelPaths } from '../support/debian-kernels.ts';
import { startRegistry, type TestRegistry } from '../support/registry.ts';

const ROOT = resolve(import.meta.dirname, '../..');
const TSC = join(ROOT, 'node_modules/typescript/bin/tsc');
const NODE_TYPES = (
  JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { devDependencies: Record<string, string> }
).devDependencies['@types/node']!;
const NPM_ENV = {
  ...process.env,
  npm_config_audit: 'false',
  npm_config_fund: 'false',
  npm_config_update_notifier: 'false',
};
let work: string;
let project: string;
let registry: TestRegistry;

function run(command: string, args: string[], cwd: string, env: NodeJS.ProcessEnv = NPM_ENV): string {
  return execFileSync(command, args, { cwd, env, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

/** tsc's diagnostics for a project ('' when it compiles). */
function tsc(config: string): string {
  try {
    return run(process.execPath, [TSC, '-p', config], project);
  } catch (error) {
    return String((error as { stdout?: string }).stdout ?? error);
  }
}

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'kart-package-'));
  project = join(work, 'consumer');
  registry = await startRegistry();
  // npm from PATH (Debian's npm runs on the first node on PATH: the toolchain's).
  const npm = 'npm';
  const packed = JSON.parse(run(npm, ['pack', '--json', '--pack-destination', work], ROOT)) as {
    filename: string;
    files: { path: string }[];
  }[];
  const files = packed[0]!.files.map((f) => f.path);
  expect(files).toContain('dist/index.js');
  expect(files).toContain('dist/index.d.ts');
  expect(files).toContain('dist/bundle/cli/kart.js');
  expect(files.some((f) => f.startsWith('src/'))).toBe(false);
  mkdirSync(project);
  writeFileSync(
    join(project, 'package.json'),
    JSON.stringify({ name: 'consumer', private: true, type: 'module' }),
  );
  run(npm, ['install', '--no-package-lock', '--prefer-offline', join(work, packed[0]!.filename)], project);
}, 240_000);

afterAll(async () => {
  await registry?.stop();
  rmSync(work, { recursive: true, force: true });
});

describe('the installed package', () => {
  it('in the checkout, the kart-source condition resolves kart (and its subpaths) to the sources', () => {
    const resolved = run(
      process.execPath,
      [
        '--conditions=kart-source',
        '--input-type=module',
        '-e',
        "console.log(['kart', 'kart/oci', 'kart/registry', 'kart/kernel', 'kart/guest'].map((s) => import.meta.resolve(s)).join(' '))",
      ],
      ROOT,
    );
    expect(resolved.trim().split(' ')).toEqual(
      ['index.ts', 'oci/index.ts', 'registry/index.ts', 'kernel/index.ts', 'guest/index.ts'].map(
        (f) => `file://${ROOT}/src/${f}`,
      ),
    );
  });

  it('npx kart runs the bundle: --version and the shipped flavors with the per-file dist/cli/ moved away', () => {
    const installed = join(project, 'node_modules', 'kart');
    renameSync(join(installed, 'dist', 'cli'), join(installed, 'dist', 'cli.away'));
    try {
      expect(run('npx', ['--no-install', 'kart', '--version'], project).trim()).toBe('0.1.0');
      expect(run('npx', ['--no-install', 'kart', 'flavors'], project).split('\n')[0]).toMatch(/^dm-verity /);
    } finally {
      renameSync(join(installed, 'dist', 'cli.away'), join(installed, 'dist', 'cli'));
    }
    // ...and without the bundle there is no CLI.
    renameSync(join(installed, 'dist', 'bundle'), join(installed, 'dist', 'bundle.away'));
    try {
      expect(() => run('npx', ['--no-install', 'kart', '--version'], project)).toThrow(
        /Cannot find module .*dist\/bundle\/cli\/kart\.js/,
      );
    } finally {
      renameSync(join(installed, 'dist', 'bundle.away'), join(installed, 'dist', 'bundle'));
    }
  });

  it('a plain-JS program packs, pushes and pulls -k a kernel through `kart`', () => {
    const kernel = debianKernelPaths('amd64');
    writeFileSync(
      join(project, 'roundtrip.js'),
      `import { packKernel, copyReference, pullKernel, isKartError } from 'kart';
import { openLayout } from 'kart/oci';
const [kernel, config, work, host] = process.argv.slice(2);
const layout = await openLayout(work + '/layout', { create: true });
await packKernel({ kernel, config, flavor: 'host', noCheck: true, tags: ['6.1'] }, layout);
const pushed = await copyReference('oci:' + work + '/layout:6.1', host + '/consumer/kernel:6.1');
const pulled = await pullKernel({ reference: host + '/consumer/kernel:6.1', dest: work + '/boot', cacheDir: work + '/cache', arch: 'amd64' });
console.log(JSON.stringify({ pushed: pushed.digest, pulled: pulled.digest, installed: pulled.installed, guard: isKartError(new Error('x')) }));
`,
    );
    const out = JSON.parse(
      run(process.execPath, ['roundtrip.js', kernel.vmlinuz, kernel.config, work, registry.host], project),
    ) as Record<string, unknown>;
    expect(out.pulled).toBe(out.pushed);
    expect(out.installed).toBe(true);
    expect(out.guard).toBe(false);
    const installed = readFileSync(join(work, 'boot', 'kernel'));
    expect(createHash('sha256').update(installed).digest('hex')).toBe(
      createHash('sha256').update(readFileSync(kernel.vmlinuz)).digest('hex'),
    );
  });

  it('the bundled CLI pushes and pulls -k the layout the library packed (bundled undici, native lzma)', () => {
    const kart = (...args: string[]) => {
      try {
        return run('npx', ['--no-install', 'kart', ...args], project);
      } catch (error) {
        throw new Error(`kart ${args[0]}: ${String((error as { stderr?: string }).stderr)}`, {
          cause: error,
        });
      }
    };
    const pushed = JSON.parse(
      kart('push', '--json', `oci:${work}/layout:6.1`, `${registry.host}/consumer/cli:6.1`),
    ) as { digest: string };
    const pulled = JSON.parse(
      kart(
        'pull',
        '-k',
        `${registry.host}/consumer/cli:6.1`,
        '--json',
        '--dest',
        join(work, 'cli-boot'),
        '--cache',
        join(work, 'cli-cache'),
        '--arch',
        'amd64',
      ),
    ) as { digest: string; installed: boolean };
    expect(pulled).toMatchObject({ digest: pushed.digest, installed: true });
    expect(readFileSync(join(work, 'cli-boot', 'kernel'))).toEqual(
      readFileSync(debianKernelPaths('amd64').vmlinuz),
    );
  });

  it('a TypeScript consumer with `tsc --init` defaults compiles with zero errors', () => {
    run(process.execPath, [TSC, '--init'], project);
    writeFileSync(
      join(project, 'launcher.ts'),
      `import { pullKernel, isKartError, type KartErrorCode, type PullKernelResult, type TransferEvent } from 'kart';
import { openLayout, type Descriptor } from 'kart/oci';
import { openReference } from 'kart/registry';
import { checkConfig, loadFlavor } from 'kart/kernel';

export async function boot(signal: AbortSignal): Promise<PullKernelResult | KartErrorCode> {
  const seen: TransferEvent[] = [];
  try {
    return await pullKernel({ reference: 'registry.example/kernels/zone:6.1', dest: '/var/lib/zone/kernel', signal, onTransfer: (e) => seen.push(e) });
  } catch (error) {
    if (isKartError(error, 'NOT_FOUND', 'ABORTED')) return error.code;
    throw error;
  }
}
export const uses = [openLayout, openReference, checkConfig, loadFlavor];
export type Root = Descriptor;
`,
    );
    expect(tsc('tsconfig.json')).toBe('');
    expect(readdirSync(project)).toContain('launcher.js');
  });

  it('the README\'s "Use as a library" examples compile as written (tsc --init, types: node)', () => {
    const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
    const section = readme.slice(
      readme.indexOf('<!-- BEGIN library -->'),
      readme.indexOf('<!-- END library -->'),
    );
    const examples = [...section.matchAll(/```ts\n([\s\S]*?)```/g)].map((m) => m[1]!);
    expect(examples).toHaveLength(3);
    const dir = join(project, 'examples');
    mkdirSync(dir);
    examples.forEach((code, i) => writeFileSync(join(dir, `example-${i + 1}.ts`), code));
    // They use Node's API (process, node:fs): the one change tsc --init's own comment suggests for Node.
    run('npm', ['install', '--no-package-lock', '--prefer-offline', `@types/node@${NODE_TYPES}`], project);
    writeFileSync(
      join(dir, 'tsconfig.json'),
      JSON.stringify({
        extends: '../tsconfig.json',
        compilerOptions: { types: ['node'] },
        include: ['*.ts'],
      }),
    );
    expect(tsc(join(dir, 'tsconfig.json'))).toBe('');
    expect(readdirSync(dir)).toContain('example-3.js');
  });
});
