/**
 * The CLI on kernel image files: `kart check` reads an image's embedded config (or says, exit 2, that
 * there is none and what to pass instead), `kart inspect FILE` prints the full banner, an EFI zboot
 * image packs and unpacks unchanged; `kart audit --catalogue` audits what a catalogue published.
 */
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { debianKernelPaths } from '../support/debian-kernels.ts';
import { compressPayload, makeIkconfigVmlinux, makeZboot, wrapBzImage } from '../support/ikconfig-kernels.ts';
import { runKart } from '../support/kart-cli.ts';
import { syntheticBanner } from '../support/synthetic-kernels.ts';

const ROOT = resolve(import.meta.dirname, '../..');
const work = mkdtempSync(join(tmpdir(), 'kart-images-cli-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));
const kart = (...args: string[]) => runKart(args, { cwd: ROOT });

function write(name: string, content: string | Buffer): string {
  const path = join(work, name);
  writeFileSync(path, content);
  return path;
}

const RELEASE = '6.12.8-kart';
const BANNER = syntheticBanner(RELEASE).trimEnd();
const CONFIG =
  '# embedded\nCONFIG_MD=y\nCONFIG_BLK_DEV_DM=y\nCONFIG_DM_INIT=y\nCONFIG_DM_VERITY=y\nCONFIG_CRYPTO_SHA256=y\n';
const DIGEST = `sha256:${createHash('sha256').update(CONFIG).digest('hex')}`;

describe('kart check on a kernel image', () => {
  it('checks the config a bzImage embeds (xz payload)', async () => {
    const path = write(
      'vmlinuz',
      wrapBzImage(RELEASE, compressPayload(makeIkconfigVmlinux(RELEASE, CONFIG), 'xz')),
    );
    expect(await kart('check', '--flavor', 'dm-verity', path)).toEqual({
      code: 0,
      stdout:
        `${path}: bzImage, ${BANNER}; embedded config ${DIGEST}\n` +
        'dm-verity (flavors/dm-verity.ini): all 5 required met\n' +
        `OK: all 5 requirements met in 1 flavor (dm-verity); 0 warnings; config ${path} (IKCONFIG)\n`,
      stderr: '',
    });
  });

  it('exits 1 on an EFI zboot image whose embedded config misses a requirement; JSON names the image', async () => {
    const path = write(
      'vmlinuz.efi',
      makeZboot(RELEASE, CONFIG.replace('CONFIG_DM_INIT=y', '# CONFIG_DM_INIT is not set'), 'zstd'),
    );
    const run = await kart('check', '--flavor', 'dm-verity', '--json', path);
    expect(run.code).toBe(1);
    const report = JSON.parse(run.stdout);
    expect(report.subject).toEqual({
      kind: 'image',
      path,
      format: 'zboot',
      release: RELEASE,
      banner: BANNER,
      configDigest: `sha256:${createHash('sha256').update(CONFIG.replace('CONFIG_DM_INIT=y', '# CONFIG_DM_INIT is not set')).digest('hex')}`,
    });
    expect(report.flavors[0].failures.map((failure: { symbol: string }) => failure.symbol)).toEqual([
      'CONFIG_DM_INIT',
    ]);
  });

  it("Debian's cloud kernel (lz4, no IKCONFIG): exit 2, its banner, and what to pass instead", async () => {
    const kernel = debianKernelPaths('cloud-amd64');
    const run = await kart('check', '--flavor', 'zone', kernel.vmlinuz);
    expect(run.code).toBe(2);
    expect(run.stdout).toBe('');
    expect(run.stderr).toMatch(
      new RegExp(
        `^kart: error: x86 bzImage ${kernel.vmlinuz} \\(Linux version ${kernel.release.replaceAll('.', '\\.')} \\(debian-kernel@lists\\.debian\\.org\\) .* #1 SMP PREEMPT_DYNAMIC Debian .*\\) has no embedded config: no IKCFG_ST marker in its lz4 payload; it was built without CONFIG_IKCONFIG\\n` +
          "kart: hint: pass the kernel's \\.config instead: the build's \\.config, /boot/config-<release> beside the image, or /proc/config\\.gz on the running kernel\\n$",
      ),
    );
  });
});

describe('kart inspect FILE', () => {
  it("prints Debian's cloud kernel (lz4) with the banner from its payload", async () => {
    const kernel = debianKernelPaths('cloud-amd64');
    const run = await kart('inspect', kernel.vmlinuz);
    expect(run.code).toBe(0);
    const lines = run.stdout.trimEnd().split('\n');
    expect(lines.slice(0, 3)).toEqual([
      `${kernel.vmlinuz}: bzImage x86_64, release ${kernel.release}`,
      '  compression: lz4',
      '  boot protocol: 2.15',
    ]);
    expect(lines[3]).toMatch(
      new RegExp(
        `^  Linux version ${kernel.release.replaceAll('.', '\\.')} \\(debian-kernel@lists\\.debian\\.org\\) \\(gcc-12 .*#1 SMP PREEMPT_DYNAMIC Debian`,
      ),
    );
    expect(lines).toHaveLength(4);
  });

  it('prints a zboot image as JSON', async () => {
    const path = write('inspect.efi', makeZboot(RELEASE, undefined, 'gzip'));
    const run = await kart('inspect', '--json', path);
    expect(run.code).toBe(0);
    expect(JSON.parse(run.stdout)).toEqual({
      path,
      format: 'zboot',
      arch: 'aarch64',
      release: RELEASE,
      banner: BANNER,
      compression: 'gzip',
    });
  });
});

describe('an EFI zboot kernel through pack, unpack and pull -k', () => {
  it('is packed and installed unchanged, as the kernel file', async () => {
    const zboot = write('vmlinuz-zboot.efi', makeZboot(RELEASE, undefined, 'zstd'));
    const config = write('zboot.config', CONFIG);
    const layout = join(work, 'zboot-layout');
    const pack = await kart(
      'pack',
      '--kernel',
      zboot,
      '--config',
      config,
      '--flavor',
      'dm-verity',
      '-o',
      `oci:${layout}:z`,
      '--json',
    );
    expect(pack.stderr).toBe('');
    expect(pack.code).toBe(0);
    expect(JSON.parse(pack.stdout)).toMatchObject({ platform: 'linux/arm64' });
    const dest = join(work, 'zboot-dest');
    const unpack = await kart('unpack', `oci:${layout}:z`, '--dest', dest, '--arch', 'arm64');
    expect(unpack.code).toBe(0);
    expect(readFileSync(join(dest, 'kernel')).equals(readFileSync(zboot))).toBe(true);
    expect(readFileSync(join(dest, 'config'), 'utf8')).toBe(CONFIG);
    const pulled = join(work, 'zboot-pulled');
    const pull = await kart(
      'pull',
      '-k',
      `oci:${layout}:z`,
      '--dest',
      pulled,
      '--arch',
      'arm64',
      '--cache',
      join(work, 'zboot-cache'),
    );
    expect(pull.code).toBe(0);
    expect(readFileSync(join(pulled, 'kernel')).equals(readFileSync(zboot))).toBe(true);
  });
});

describe('kart audit --catalogue', () => {
  it('audits the version and extra tags each job published, and names a tag that is missing', async () => {
    const flavor = write(
      'cat-flavor.ini',
      'description = cat\nrepository = cat-kernel\n[require]\nCONFIG_DM_INIT = y\n',
    );
    const registry = join(work, 'published');
    const kernel = write(
      'cat-bzImage',
      wrapBzImage('6.1.99-cat', compressPayload(makeIkconfigVmlinux('6.1.99-cat', undefined), 'gzip')),
    );
    const config = write('cat.config', CONFIG);
    const pack = await kart(
      'pack',
      '--kernel',
      kernel,
      '--config',
      config,
      '--flavor',
      flavor,
      '-o',
      `oci:${registry}/cat-kernel:6.1.99`,
      '--tag',
      'lts',
    );
    expect(pack.code).toBe(0);
    const catalogue = write(
      'cat.ini',
      `[6.1.99]\nflavors = ${flavor}\narches = x86_64\nbuild = nowhere\ntags = lts, nightly\n`,
    );
    const run = await kart('audit', `oci:${registry}`, '--catalogue', catalogue);
    expect(run.code).toBe(1);
    const lines = run.stdout.trimEnd().split('\n');
    expect(lines.slice(1, -1).map((line) => line.split(/ +/).slice(0, 4).join(' '))).toEqual([
      `6.1.99 linux/amd64 ${lines[1]?.split(/ +/)[2]} ok`,
      `lts linux/amd64 ${lines[1]?.split(/ +/)[2]} ok`,
      'nightly - - missing',
    ]);
    expect(lines.at(-1)).toBe(`FAILED: 3 tags (1 distinct), 3 checked, 1 failed; oci:${registry}/cat-kernel`);
  });

  it('needs a flavor or a catalogue (exit 2)', async () => {
    expect(await kart('audit', 'oci:/nowhere')).toEqual({
      code: 2,
      stdout: '',
      stderr:
        'kart: error: kart audit needs at least one --flavor (or a --catalogue)\nkart: hint: name a shipped flavor (kart flavors lists them) or a flavor file, e.g. --flavor zone\n',
    });
  });
});
