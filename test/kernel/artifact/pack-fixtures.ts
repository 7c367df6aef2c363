import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { makeArm64Image, makeBzImage } from '../../support/synthetic-kernels.ts';

/** A small synthetic kernel build (tests of pack behaviour that do not need the real Debian kernel). */
export interface SyntheticBuild {
  dir: string;
  bzImage: string;
  arm64Image: string;
  config: string;
  failingConfig: string;
  /** comments only: parses, but sets no CONFIG_ symbol */
  emptyConfig: string;
  addons: string;
  notSquashfs: string;
  /** a flavor requiring CONFIG_DEMO=y with a 1 MiB addons limit */
  flavor: string;
  /** the same flavor with a 100-byte addons limit */
  tinyFlavor: string;
}

export const RELEASE = '6.1.99-demo';

export function makeSyntheticBuild(): SyntheticBuild {
  const dir = mkdtempSync(join(tmpdir(), 'kart-pack-test-'));
  const bzImage = join(dir, 'bzImage');
  writeFileSync(bzImage, makeBzImage(RELEASE));
  const arm64Image = join(dir, 'Image');
  writeFileSync(arm64Image, makeArm64Image('6.1.99-demo-arm64'));
  const config = join(dir, 'demo.config');
  writeFileSync(config, '# demo\nCONFIG_DEMO=y\nCONFIG_XEN=y\n');
  const failingConfig = join(dir, 'failing.config');
  writeFileSync(failingConfig, '# demo\n# CONFIG_DEMO is not set\n');
  const emptyConfig = join(dir, 'empty.config');
  writeFileSync(emptyConfig, '# Automatically generated file; DO NOT EDIT.\n');
  const tree = join(dir, 'addons-tree', 'modules');
  mkdirSync(tree, { recursive: true });
  writeFileSync(join(tree, 'demo.ko'), 'not really a module\n');
  const addons = join(dir, 'addons.squashfs');
  execFileSync('mksquashfs', [
    join(dir, 'addons-tree'),
    addons,
    '-all-root',
    '-no-xattrs',
    '-quiet',
    '-no-progress',
    '-mkfs-time',
    '0',
    '-all-time',
    '0',
  ]);
  const notSquashfs = join(dir, 'not.squashfs');
  writeFileSync(notSquashfs, Buffer.alloc(4096, 7));
  const flavor = join(dir, 'demo.ini');
  writeFileSync(
    flavor,
    'description = demo flavor for tests\naddons_max_bytes = 1048576\n\n[require]\nCONFIG_DEMO = y\n',
  );
  const tinyFlavor = join(dir, 'tiny.ini');
  writeFileSync(
    tinyFlavor,
    'description = tiny addons limit\naddons_max_bytes = 100\n\n[require]\nCONFIG_DEMO = y\n',
  );
  return {
    dir,
    bzImage,
    arm64Image,
    config,
    failingConfig,
    emptyConfig,
    addons,
    notSquashfs,
    flavor,
    tinyFlavor,
  };
}

export function readJson(path: string): unknown {
  return JSON.parse(readFileSync(path, 'utf8'));
}

/**
 * Every path under a layout with its size (directories end in `/`), sorted: what "the layout is
 * unchanged" compares, so a stray blob, temp file or directory left by a refused pack shows up.
 */
export function layoutTree(dir: string): string[] {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .map((entry) => {
      const path = relative(dir, join(entry.parentPath, entry.name));
      return entry.isDirectory() ? `${path}/` : `${path} ${statSync(join(dir, path)).size}`;
    })
    .sort();
}
