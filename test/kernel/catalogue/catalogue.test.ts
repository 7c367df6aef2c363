import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { KartError } from '../../../src/errors.ts';
import { expandCatalogue, parseCatalogue, readCatalogueFile } from '../../../src/kernel/catalogue/index.ts';
import { CACHE_ROOT, debianKernelPaths } from '../../support/debian-kernels.ts';
import { kartErrorOf } from '../../support/kart-error.ts';

const REPO = resolve(import.meta.dirname, '../../..');
const SAMPLE = join(REPO, 'kernels/sample.ini');

const kartError = (fn: () => unknown) => kartErrorOf(fn);

describe('parseCatalogue + expandCatalogue', () => {
  const text = [
    '# a maintainer catalogue',
    '[defaults]',
    'arches = x86_64, arm64',
    'build = ../build/linux-{version}/{flavor}-{arch}',
    '',
    '[6.1.10]',
    'flavors = zone, host',
    'tags = lts, {version}-{flavor}-{ociArch}',
    '',
    '; only one arch here',
    '[6.18.44-nvidia-595.91.07]',
    '  flavors   =   zone-nvidiagpu  ',
    'arches = amd64',
    'build = /abs/{arch}',
    '[7.3.0-rc3]',
    'flavors = ./my-flavors/zone-edge.ini',
    'aliases = no',
  ].join('\r\n');

  it('expands entries → flavors → arches in file order, relative paths against the directory', () => {
    const catalogue = parseCatalogue(`\uFEFF${text}`, 'kernels/k.ini', { directory: '/repo/kernels' });
    expect(expandCatalogue(catalogue)).toEqual([
      {
        version: '6.1.10',
        flavor: 'zone',
        arch: 'x86_64',
        buildDir: '/repo/build/linux-6.1.10/zone-x86_64',
        tags: ['lts', '6.1.10-zone-amd64'],
        noAlias: false,
        origin: 'kernels/k.ini:6',
      },
      {
        version: '6.1.10',
        flavor: 'zone',
        arch: 'aarch64',
        buildDir: '/repo/build/linux-6.1.10/zone-aarch64',
        tags: ['lts', '6.1.10-zone-arm64'],
        noAlias: false,
        origin: 'kernels/k.ini:6',
      },
      {
        version: '6.1.10',
        flavor: 'host',
        arch: 'x86_64',
        buildDir: '/repo/build/linux-6.1.10/host-x86_64',
        tags: ['lts', '6.1.10-host-amd64'],
        noAlias: false,
        origin: 'kernels/k.ini:6',
      },
      {
        version: '6.1.10',
        flavor: 'host',
        arch: 'aarch64',
        buildDir: '/repo/build/linux-6.1.10/host-aarch64',
        tags: ['lts', '6.1.10-host-arm64'],
        noAlias: false,
        origin: 'kernels/k.ini:6',
      },
      {
        version: '6.18.44-nvidia-595.91.07',
        flavor: 'zone-nvidiagpu',
        arch: 'x86_64',
        buildDir: '/abs/x86_64',
        tags: [],
        noAlias: false,
        origin: 'kernels/k.ini:11',
      },
      {
        version: '7.3.0-rc3',
        flavor: '/repo/kernels/my-flavors/zone-edge.ini',
        arch: 'x86_64',
        buildDir: '/repo/build/linux-7.3.0-rc3/zone-edge-x86_64',
        tags: [],
        noAlias: true,
        origin: 'kernels/k.ini:15',
      },
      {
        version: '7.3.0-rc3',
        flavor: '/repo/kernels/my-flavors/zone-edge.ini',
        arch: 'aarch64',
        buildDir: '/repo/build/linux-7.3.0-rc3/zone-edge-aarch64',
        tags: [],
        noAlias: true,
        origin: 'kernels/k.ini:15',
      },
    ]);
  });

  it('without a directory, relative paths stay as written', () => {
    const jobs = expandCatalogue(parseCatalogue(text, 'k.ini'));
    expect(jobs.map((j) => [j.flavor, j.buildDir]).slice(-1)).toEqual([
      ['./my-flavors/zone-edge.ini', '../build/linux-7.3.0-rc3/zone-edge-aarch64'],
    ]);
  });

  it('keeps the entry fields as parsed, with the section line', () => {
    const catalogue = parseCatalogue(text, 'k.ini');
    expect(catalogue.entries[0]).toEqual({
      version: '6.1.10',
      flavors: ['zone', 'host'],
      arches: ['x86_64', 'aarch64'],
      build: '../build/linux-{version}/{flavor}-{arch}',
      tags: ['lts', '{version}-{flavor}-{ociArch}'],
      aliases: true,
      line: 6,
    });
  });
});

describe('catalogue errors: CATALOGUE_INVALID naming file and line', () => {
  const entry = (...lines: string[]) => ['[6.1.10]', ...lines].join('\n');
  const ok = ['flavors = zone', 'arches = x86_64', 'build = b/{arch}'];

  it.each([
    [
      entry(...ok, 'colour = blue'),
      'k.ini:5: unknown key "colour"',
      'the keys are flavors, arches, build, tags, aliases',
    ],
    [
      entry('flavors = zone', 'arches = x86_64, riscv64', 'build = b'),
      'k.ini:3: unknown arch "riscv64"',
      'arches are x86_64 and aarch64 (amd64 and arm64 are accepted)',
    ],
    [
      entry('flavors = zone', 'arches = x86_64'),
      'k.ini:1: [6.1.10] has no build',
      'add build = the build directory pattern, e.g. build = ../build/{version}/{flavor}-{arch}',
    ],
    [
      entry('arches = x86_64', 'build = b'),
      'k.ini:1: [6.1.10] has no flavors',
      'add flavors = …, or set it under [defaults]',
    ],
    [
      ['[6.1]', ...ok].join('\n'),
      'k.ini:1: [6.1] is not a kernel release version',
      'name each entry by the version it publishes, e.g. [6.1.10], [7.3.0-rc3] or [6.18.44-nvidia-595.91.07]',
    ],
    [
      ['[zone]', ...ok].join('\n'),
      'k.ini:1: [zone] is not a kernel release version',
      'name each entry by the version it publishes, e.g. [6.1.10], [7.3.0-rc3] or [6.18.44-nvidia-595.91.07]',
    ],
    [
      [entry(...ok), entry(...ok)].join('\n'),
      'k.ini:5: [6.1.10] appears again (first on line 1)',
      'list each version once; put all its flavors in one entry',
    ],
    [
      entry(...ok, 'arches = aarch64'),
      'k.ini:5: "arches" appears again in [6.1.10] (first on line 3)',
      'give each key once per section; lists are comma-separated',
    ],
    [
      ['flavors = zone', entry(...ok)].join('\n'),
      'k.ini:1: "flavors" comes before any [section]',
      'start an entry with a [VERSION] line, e.g. [6.1.10]',
    ],
    [
      entry(...ok, 'just words'),
      'k.ini:5: "just words" is neither [section] nor key = value',
      'write key = value, or a [VERSION] section',
    ],
    [
      [entry(...ok), '[defaults]'].join('\n'),
      'k.ini:5: [defaults] comes after an entry',
      'put [defaults] before the first [VERSION] section',
    ],
    [
      ['[defaults]', '[defaults]', entry(...ok)].join('\n'),
      'k.ini:2: [defaults] appears again (first on line 1)',
      'keep one [defaults] section',
    ],
    [
      entry('flavors = zone,, host', 'arches = x86_64', 'build = b'),
      'k.ini:2: flavors has an empty item ("zone,, host")',
      'flavors is a comma-separated list, e.g. zone, host',
    ],
    [
      entry('flavors = zone, zone', 'arches = x86_64', 'build = b'),
      'k.ini:2: flavors lists "zone" twice',
      'list each once',
    ],
    [
      entry('flavors = Zone!', 'arches = x86_64', 'build = b'),
      'k.ini:2: "Zone!" is not a flavor name',
      'a flavor is a name from flavors/ (lowercase, digits, . _ -) or the path of a flavor .ini file',
    ],
    [
      entry('flavors = zone', 'arches = amd64, x86_64', 'build = b'),
      'k.ini:3: arch x86_64 is listed twice',
      'amd64 is x86_64 and arm64 is aarch64; list each once',
    ],
    [
      entry('flavors = zone', 'arches = x86_64', 'build ='),
      'k.ini:4: build is empty',
      'set build = the build directory pattern, e.g. ../build/{version}/{flavor}-{arch}',
    ],
    [
      entry('flavors = zone', 'arches = x86_64', 'build = b/{kernel}'),
      'k.ini:4: build "b/{kernel}" unknown placeholder {kernel} (known: {version} {flavor} {arch} {ociArch})',
      'placeholders are {version} {flavor} {arch} {ociArch}',
    ],
    [
      entry(...ok, 'tags = x-{version'),
      'k.ini:5: tag "x-{version" has a "{" or "}" that is not part of a {name} placeholder',
      'placeholders are {version} {flavor} {arch} {ociArch}',
    ],
    [
      entry(...ok, 'aliases = maybe'),
      'k.ini:5: aliases = "maybe" is not yes or no',
      'aliases = no publishes without the moving 6.1, 6 and latest tags',
    ],
    [
      '# nothing here\n[defaults]\nbuild = b\n',
      'k.ini:4: has no entries',
      'add a [VERSION] section with flavors, arches and build',
    ],
  ])('%j', (text, message, hint) => {
    let caught: unknown;
    try {
      parseCatalogue(text, 'k.ini');
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(KartError);
    const error = caught as KartError;
    expect({ code: error.code, message: error.message, hint: error.hint, exitCode: error.exitCode }).toEqual({
      code: 'CATALOGUE_INVALID',
      message,
      hint,
      exitCode: 2,
    });
  });

  it('an expanded tag that is not an OCI tag names the entry line', async () => {
    const catalogue = parseCatalogue(
      ['[6.1.10]', 'flavors = zone', 'arches = x86_64', 'build = b', 'tags = .{flavor}'].join('\n'),
      'k.ini',
    );
    const error = await kartError(() => expandCatalogue(catalogue));
    expect([error.code, error.message]).toEqual([
      'CATALOGUE_INVALID',
      'k.ini:1: [6.1.10] tag ".{flavor}" gives ".zone" for zone/x86_64, which is not a valid OCI tag',
    ]);
  });
});

describe('readCatalogueFile', () => {
  const dir = mkdtempSync(join(tmpdir(), 'kart-catalogue-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('CATALOGUE_UNREADABLE for a missing file and for a directory', async () => {
    const missing = await kartError(() => readCatalogueFile(join(dir, 'nope.ini')));
    expect([missing.code, missing.message, missing.exitCode]).toEqual([
      'CATALOGUE_UNREADABLE',
      `catalogue ${join(dir, 'nope.ini')} does not exist`,
      2,
    ]);
    const directory = await kartError(() => readCatalogueFile(dir));
    expect([directory.code, directory.message]).toEqual([
      'CATALOGUE_UNREADABLE',
      `catalogue ${dir} is a directory`,
    ]);
  });

  it('reads kernels/sample.ini: the demo entry points at the real Debian cloud kernel the tests fetch', async () => {
    const jobs = expandCatalogue(await readCatalogueFile(SAMPLE));
    const buildDir = join(CACHE_ROOT, 'cloud-amd64');
    expect(jobs).toEqual([
      {
        version: '6.1.0',
        flavor: join(REPO, 'kernels/flavors/demo.ini'),
        arch: 'x86_64',
        buildDir,
        tags: ['debian-cloud'],
        noAlias: false,
        origin: `${SAMPLE}:25`,
      },
    ]);
    const kernel = debianKernelPaths('cloud-amd64');
    expect(kernel.root).toBe(buildDir);
    expect(existsSync(kernel.vmlinuz) && existsSync(kernel.config)).toBe(true);
  });

  it("the sample's commented maintainer example parses as documented", () => {
    const lines = readFileSync(SAMPLE, 'utf8').split('\n');
    const start = lines.findIndex((l) => l.startsWith("# A maintainer's catalogue looks more like this"));
    expect(start).toBeGreaterThan(0);
    const example = lines
      .slice(start + 1)
      .map((l) => l.replace(/^# ?/, ''))
      .join('\n');
    const jobs = expandCatalogue(parseCatalogue(example, 'example', { directory: '/r/kernels' }));
    expect(
      jobs.map(
        (j) =>
          `${j.version} ${j.flavor} ${j.arch} ${j.buildDir} [${j.tags.join(',')}]${j.noAlias ? ' no-alias' : ''}`,
      ),
    ).toEqual([
      '6.1.10 zone x86_64 /r/build/linux-6.1.10/zone-x86_64 [lts]',
      '6.1.10 zone aarch64 /r/build/linux-6.1.10/zone-aarch64 [lts]',
      '6.1.10 host x86_64 /r/build/linux-6.1.10/host-x86_64 [lts]',
      '6.1.10 host aarch64 /r/build/linux-6.1.10/host-aarch64 [lts]',
      '6.18.44 zone x86_64 /r/build/linux-6.18.44/zone-x86_64 []',
      '6.18.44 zone aarch64 /r/build/linux-6.18.44/zone-aarch64 []',
      '6.18.44-nvidia-595.91.07 zone-nvidiagpu x86_64 /r/build/linux-6.18.44-nvidia-595.91.07/zone-nvidiagpu-x86_64 []',
      '7.3.0-rc3 zone x86_64 /r/build/linux-7.3.0-rc3/zone-x86_64 []',
      '7.3.0-rc3 zone aarch64 /r/build/linux-7.3.0-rc3/zone-aarch64 []',
      '6.12.59 kvm-guest x86_64 /r/build/linux-6.12.59/kvm-guest-x86_64 [6.12.59-kvm-guest-test] no-alias',
    ]);
  });
});

describe('catalogue fuzz (fast-check)', () => {
  it('any text either parses and expands, or raises CATALOGUE_INVALID', () => {
    const piece = fc.oneof(
      fc.constantFrom(
        '[6.1.10]',
        '[defaults]',
        '[7.3.0-rc3]',
        '[x]',
        '[',
        ']',
        '\n',
        '\r\n',
        '=',
        ',',
        ' ',
        '#',
        ';',
      ),
      fc.constantFrom(
        'flavors',
        'arches',
        'build',
        'tags',
        'aliases',
        'zone',
        'x86_64',
        'arm64',
        'no',
        '{version}',
        '{arch}',
        '{',
      ),
      fc.string({ maxLength: 8 }),
    );
    fc.assert(
      fc.property(fc.array(piece, { maxLength: 60 }), (pieces) => {
        try {
          const jobs = expandCatalogue(parseCatalogue(pieces.join(''), 'fuzz.ini'));
          expect(jobs.length).toBeGreaterThan(0);
        } catch (error) {
          expect(error instanceof KartError && error.code === 'CATALOGUE_INVALID').toBe(true);
        }
      }),
      { numRuns: 2000 },
    );
  });
});
