/**
 * Small synthetic kernel builds for publish tests: a bzImage or arm64 Image with a release string,
 * a .config, and a tiny flavor file that the config meets (or, with `failing`, does not).
 */
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { makeArm64Image, makeBzImage } from '../../support/synthetic-kernels.ts';

export interface FixtureWorld {
  root: string;
  /** A flavor file requiring CONFIG_KART_TEST=y. */
  flavor: string;
  build(options: { release: string; arch?: 'amd64' | 'arm64'; config?: string; name?: string }): string;
}

export const PASSING_CONFIG = 'CONFIG_KART_TEST=y\nCONFIG_64BIT=y\n';
export const CHANGED_CONFIG = 'CONFIG_KART_TEST=y\nCONFIG_64BIT=y\nCONFIG_EXTRA=y\n';
export const FAILING_CONFIG = '# CONFIG_KART_TEST is not set\nCONFIG_64BIT=y\n';

export function makeFixtureWorld(): FixtureWorld {
  const root = mkdtempSync(join(tmpdir(), 'kart-publish-test-'));
  const flavor = join(root, 'testflavor.ini');
  writeFileSync(
    flavor,
    'description = publish tests\nrepository = test-kernel\n\n[require]\nCONFIG_KART_TEST = y\n',
  );
  let n = 0;
  return {
    root,
    flavor,
    build({ release, arch = 'amd64', config = PASSING_CONFIG, name }) {
      const dir = join(root, name ?? `build-${n++}`);
      mkdirSync(dir, { recursive: true });
      if (arch === 'amd64') writeFileSync(join(dir, 'bzImage'), makeBzImage(release));
      else writeFileSync(join(dir, 'Image'), makeArm64Image(release));
      writeFileSync(join(dir, '.config'), config);
      return dir;
    },
  };
}
