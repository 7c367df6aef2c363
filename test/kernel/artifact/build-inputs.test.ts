import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { discoverBuildInputs, type BuildInputOptions } from '../../../src/kernel/artifact/index.ts';
import { kartErrorOf } from '../../support/kart-error.ts';

function buildDir(files: string[], dirs: string[] = []): string {
  const dir = mkdtempSync(join(tmpdir(), 'kart-build-'));
  for (const d of dirs) mkdirSync(join(dir, d), { recursive: true });
  for (const f of files) {
    mkdirSync(join(dir, f, '..'), { recursive: true });
    writeFileSync(join(dir, f), 'x');
  }
  return dir;
}

async function failure(options: BuildInputOptions): Promise<{ code: string; message: string }> {
  const { code, message } = await kartErrorOf(discoverBuildInputs(options));
  return { code, message };
}

describe('discoverBuildInputs', () => {
  it('takes the conventional names and says what it took', async () => {
    const dir = buildDir(['bzImage', '.config', 'addons.squashfs']);
    const inputs = await discoverBuildInputs({ buildDir: dir });
    expect(inputs).toEqual({
      kernel: join(dir, 'bzImage'),
      config: join(dir, '.config'),
      addons: { kind: 'squashfs', path: join(dir, 'addons.squashfs') },
      choices: [
        { role: 'kernel', path: join(dir, 'bzImage'), from: 'build directory' },
        { role: 'config', path: join(dir, '.config'), from: 'build directory' },
        { role: 'addons', path: join(dir, 'addons.squashfs'), from: 'build directory' },
      ],
    });
  });

  it('looks in boot/ and finds lib/modules, as in an unpacked distribution package', async () => {
    const dir = buildDir(
      ['boot/vmlinuz-6.1.0-1-amd64', 'boot/config-6.1.0-1-amd64', 'boot/System.map-6.1.0-1-amd64'],
      ['lib/modules/6.1.0-1-amd64'],
    );
    const inputs = await discoverBuildInputs({ buildDir: dir });
    expect(inputs.kernel).toBe(join(dir, 'boot/vmlinuz-6.1.0-1-amd64'));
    expect(inputs.config).toBe(join(dir, 'boot/config-6.1.0-1-amd64'));
    expect(inputs.addons).toEqual({ kind: 'modules', path: join(dir, 'lib/modules') });
  });

  it('lets an explicit option win over the build directory', async () => {
    const dir = buildDir(['Image', 'Image.gz', '.config']);
    const inputs = await discoverBuildInputs({ buildDir: dir, kernel: join(dir, 'Image.gz') });
    expect(inputs.choices[0]).toEqual({ role: 'kernel', path: join(dir, 'Image.gz'), from: 'option' });
  });

  it('refuses two competing candidates, listing them', async () => {
    const dir = buildDir(['Image', 'Image.gz', '.config']);
    expect(await failure({ buildDir: dir })).toEqual({
      code: 'BUILD_INPUT_AMBIGUOUS',
      message: `the build directory holds more than one candidate for the kernel: ${join(dir, 'Image')}, ${join(dir, 'Image.gz')}`,
    });
    const both = buildDir(['bzImage', '.config', 'addons.squashfs'], ['lib/modules/6.1']);
    expect((await failure({ buildDir: both })).message).toBe(
      `the build directory holds more than one candidate for the addons: ${join(both, 'addons.squashfs')}, ${join(both, 'lib/modules')}`,
    );
  });

  it('refuses what is missing or contradictory', async () => {
    const dir = buildDir(['bzImage']);
    expect(await failure({ buildDir: dir })).toEqual({
      code: 'BUILD_INPUT_MISSING',
      message: `no kernel config in build directory ${dir} (looked for .config and config* in it and in its boot/)`,
    });
    expect((await failure({ kernel: join(dir, 'bzImage'), addons: 'a', modules: 'b' })).code).toBe(
      'BUILD_INPUT_CONFLICT',
    );
    expect(await failure({ kernel: join(dir, 'nope'), config: join(dir, 'bzImage') })).toEqual({
      code: 'BUILD_INPUT_NOT_FOUND',
      message: `kernel ${join(dir, 'nope')} does not exist or cannot be read`,
    });
  });
});
