/**
 * registries.conf as containers tools read it: prefix matching (whole components, longest prefix
 * wins, `*.example.com` wildcards), location rewriting for the upstream and each mirror, blocked
 * registries, kart's reading of pull-from-mirror, where the files are found, and malformed files
 * reported with the line.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parseReference, type RegistryReference } from '../../../src/oci/reference.ts';
import { loadRegistriesConf } from '../../../src/registry/mirrors/load-registries-conf.ts';
import {
  findRegistry,
  planPullSources,
  refMatchingPrefix,
} from '../../../src/registry/mirrors/pull-source-plan.ts';
import { parseRegistriesConf, type RegistriesConf } from '../../../src/registry/mirrors/registries-conf.ts';
import { kartErrorOf } from '../../support/kart-error.ts';

const DIGEST = `sha256:${'a'.repeat(64)}`;
const work = mkdtempSync(join(tmpdir(), 'kart-registries-conf-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

function conf(text: string, path = '/etc/containers/registries.conf'): RegistriesConf {
  return { registries: parseRegistriesConf(text, path), files: [path] };
}

function registryRef(text: string): RegistryReference {
  return parseReference(text) as RegistryReference;
}

describe('prefix matching', () => {
  it.each([
    // a host
    ['docker.io', 'docker.io', 9],
    ['docker.io', 'example.com', -1],
    ['example.com:5000', 'example.com:5000', 16],
    ['example.com:50000', 'example.com:5000', -1],
    ['example.com/foo', 'example.com', 11],
    ['example.com/foo/bar:baz', 'example.com', 11],
    [`example.com/foo/bar@${DIGEST}`, 'example.com', 11],
    // a namespace or a repository: whole path components only
    ['docker.io', 'docker.io/library', -1],
    ['docker.io/library', 'docker.io/library', 17],
    ['docker.io/libraryy', 'docker.io/library', -1],
    ['docker.io/library/busybox', 'docker.io/library', 17],
    ['docker.io/library/busybox2', 'docker.io/library/busybox', -1],
    ['example.com/library/busybox', 'docker.io/library/busybox', -1],
    // a single image
    ['example.com/foo', 'example.com/foo:bar', -1],
    ['example.com/foo:bar', 'example.com/foo:bar', 19],
    ['example.com/foo:bar2', 'example.com/foo:bar', -1],
    [`example.com/foo@${DIGEST}`, `example.com/foo@${DIGEST}`, 16 + DIGEST.length],
    // wildcards: any subdomain, in the host part only
    ['a.example.com/foo', '*.example.com', 13],
    ['b.a.example.com/foo:1', '*.example.com', 15],
    ['a.example.com:5000/foo', '*.example.com', 13],
    ['example.com/foo', '*.example.com', -1],
    ['a.example.com.evil.org/foo', '*.example.com', -1],
    ['other.org/a.example.com/foo', '*.example.com', -1],
    // not a valid prefix, and no crash
    ['example.com/foo', '*', -1],
  ])('%s against %s → %i', (ref, prefix, expected) => {
    expect(refMatchingPrefix(ref, prefix)).toBe(expected);
  });

  it('the longest matching prefix wins, a wildcard included', () => {
    const { registries } = conf(
      [
        '[[registry]]\nprefix = "example.com"\nlocation = "one.example"',
        '[[registry]]\nprefix = "example.com/foo/bar"\nlocation = "three.example"',
        '[[registry]]\nprefix = "example.com/foo"\nlocation = "two.example"',
        '[[registry]]\nprefix = "*.example.com"\nlocation = ""',
        '[[registry]]\nprefix = "a.example.com/kernels"\nlocation = "k.example"',
      ].join('\n'),
    );
    const found = (ref: string) => findRegistry(registries, ref)?.location;
    expect(found('example.com/foo/bar/baz:1')).toBe('three.example');
    expect(found('example.com/foo/other:1')).toBe('two.example');
    expect(found('example.com/elsewhere:1')).toBe('one.example');
    expect(found('a.example.com/kernels/zone:1')).toBe('k.example');
    expect(findRegistry(registries, 'b.example.com/zone:1')?.prefix).toBe('*.example.com');
    expect(found('example.org/foo:1')).toBeUndefined();
  });
});

describe('the sources of a pull', () => {
  it('rewrites the upstream and each mirror from the matched prefix, mirrors in file order', () => {
    const plan = planPullSources(
      registryRef('example.com/foo/kernel:6.1'),
      conf(
        [
          '[[registry]]',
          'prefix = "example.com/foo"',
          'location = "internal.example:5000/bar"',
          '[[registry.mirror]]',
          'location = "cache.site:5000/foo"',
          '[[registry.mirror]]',
          'location = "other.site/x/y"',
        ].join('\n'),
      ),
    );
    expect(plan.upstream).toEqual({
      host: 'internal.example:5000',
      repository: 'bar/kernel',
      insecure: false,
    });
    expect(plan.mirrors.map((m) => `${m.host}/${m.repository}`)).toEqual([
      'cache.site:5000/foo/kernel',
      'other.site/x/y/kernel',
    ]);
  });

  it('Docker Hub is docker.io in the file; a wildcard with no location keeps the upstream', () => {
    const hub = planPullSources(
      registryRef('alpine:3'),
      conf('[[registry]]\nlocation = "docker.io"\n[[registry.mirror]]\nlocation = "hub-cache.site:5000"'),
    );
    expect(hub.upstream).toEqual({
      host: 'registry-1.docker.io',
      repository: 'library/alpine',
      insecure: false,
    });
    expect(hub.mirrors.map((m) => `${m.host}/${m.repository}`)).toEqual([
      'hub-cache.site:5000/library/alpine',
    ]);

    const wild = planPullSources(
      registryRef('a.example.com/kernels/zone:1'),
      conf('[[registry]]\nprefix = "*.example.com"\n[[registry.mirror]]\nlocation = "cache.site/sub"'),
    );
    expect(wild.upstream).toEqual({ host: 'a.example.com', repository: 'kernels/zone', insecure: false });
    expect(wild.mirrors.map((m) => `${m.host}/${m.repository}`)).toEqual(['cache.site/sub/kernels/zone']);
  });

  it('pull-from-mirror: unset is digest-only for kart; all and tag-only may answer tags when the upstream is down', () => {
    const plan = planPullSources(
      registryRef('example.com/kernel:1'),
      conf(
        [
          '[[registry]]',
          'location = "example.com"',
          '[[registry.mirror]]\nlocation = "unset.site"',
          '[[registry.mirror]]\nlocation = "all.site"\npull-from-mirror = "all"',
          '[[registry.mirror]]\nlocation = "digest.site"\npull-from-mirror = "digest-only"',
          '[[registry.mirror]]\nlocation = "tag.site"\npull-from-mirror = "tag-only"',
        ].join('\n'),
      ),
      { mirrors: ['cli.site:5000/path'] },
    );
    expect(plan.mirrors.map(({ host, digests, tags, origin }) => ({ host, digests, tags, origin }))).toEqual([
      { host: 'cli.site:5000', digests: true, tags: false, origin: '--mirror' },
      { host: 'unset.site', digests: true, tags: false, origin: '/etc/containers/registries.conf:1' },
      { host: 'all.site', digests: true, tags: true, origin: '/etc/containers/registries.conf:1' },
      { host: 'digest.site', digests: true, tags: false, origin: '/etc/containers/registries.conf:1' },
      { host: 'tag.site', digests: false, tags: true, origin: '/etc/containers/registries.conf:1' },
    ]);
    expect(plan.mirrors[0]?.repository).toBe('path/kernel');
    const legacy = planPullSources(
      registryRef('example.com/kernel:1'),
      conf(
        '[[registry]]\nlocation = "example.com"\nmirror-by-digest-only = true\n[[registry.mirror]]\nlocation = "m.site"',
      ),
      { tagFromMirror: true },
    );
    // --tag-from-mirror is the command line's policy for every mirror
    expect(legacy.mirrors.map(({ digests, tags }) => ({ digests, tags }))).toEqual([
      { digests: true, tags: true },
    ]);
  });

  it('a blocked registry is refused with the line that blocks it', async () => {
    const file = conf(
      '# site policy\n[[registry]]\nprefix = "*.untrusted.example"\nblocked = true\n',
      '/etc/containers/registries.conf.d/50-block.conf',
    );
    const error = await kartErrorOf(() => planPullSources(registryRef('x.untrusted.example/kernel:1'), file));
    expect({ code: error.code, exitCode: error.exitCode, message: error.message }).toEqual({
      code: 'REGISTRY_BLOCKED',
      exitCode: 2,
      message:
        'pulling x.untrusted.example/kernel:1 is blocked by registries.conf (/etc/containers/registries.conf.d/50-block.conf:2)',
    });
    expect(planPullSources(registryRef('untrusted.example/kernel:1'), file).mirrors).toEqual([]);
  });
});

describe('a malformed registries.conf names the file and the line', () => {
  it.each([
    [
      'not TOML',
      '[[registry]]\nprefix = "example.com"\nlocation = "example.com\n',
      'r.conf:3: not valid TOML',
    ],
    [
      'an unknown pull-from-mirror',
      '[[registry]]\nlocation = "example.com"\n\n[[registry.mirror]]\nlocation = "m.site"\npull-from-mirror = "sometimes"\n',
      'r.conf:4: pull-from-mirror = "sometimes" for mirror m.site: not one of all, digest-only, tag-only',
    ],
    [
      'a field of the wrong type',
      'unqualified-search-registries = []\n\n[[registry]]\nlocation = "example.com"\ninsecure = "yes"\n',
      'r.conf:3: registry.0.insecure:',
    ],
    [
      'a wildcard with a path',
      '[[registry]]\nprefix = "*.example.com/kernels"\nlocation = "x.example"\n',
      'r.conf:1: wildcard prefix "*.example.com/kernels" must be a bare domain',
    ],
    [
      'a prefix with no location',
      '[[registry]]\nprefix = "example.com"\n',
      'r.conf:1: prefix "example.com" has no location',
    ],
    [
      'a URL for a location',
      '[[registry]]\nlocation = "https://example.com"\n',
      'r.conf:1: location "https://example.com" has a URL scheme',
    ],
    [
      'pull-from-mirror on the registry itself',
      '[[registry]]\nlocation = "example.com"\npull-from-mirror = "all"\n',
      'r.conf:1: pull-from-mirror belongs in a [[registry.mirror]]',
    ],
    [
      'the version 1 format mixed with version 2',
      'unqualified-search-registries = []\n\n[registries.search]\nregistries = []\n',
      'r.conf:3: mixes the version 1 format ([registries.*]) with version 2 (unqualified-search-registries)',
    ],
    [
      'a URL in a version 1 list',
      '[registries.search]\nregistries = ["a.example"]\n\n[registries.block]\nregistries = ["http://b.example"]\n',
      'r.conf:4: [registries.block] entry "http://b.example" has a URL scheme',
    ],
    [
      'one registry both insecure and not',
      '[[registry]]\nlocation = "registry.com"\n[[registry.mirror]]\nlocation = "m.site"\n\n[[registry]]\nprefix = "registry.com/kernels"\nlocation = "registry.com"\ninsecure = true\n',
      'r.conf:6: registry registry.com is defined again with a conflicting insecure setting (r.conf:1 says false, this table true)',
    ],
    [
      'one registry both blocked and not',
      '[[registry]]\nlocation = "registry.com"\n\n[[registry]]\nprefix = "other.example"\nlocation = "registry.com"\nblocked = true\n',
      'r.conf:4: registry registry.com is defined again with a conflicting blocked setting (r.conf:1 says false, this table true)',
    ],
  ])('%s', async (_what, text, message) => {
    const error = await kartErrorOf(() => parseRegistriesConf(text, 'r.conf'));
    expect({
      code: error.code,
      exitCode: error.exitCode,
      message: error.message.slice(0, message.length),
    }).toEqual({
      code: 'REGISTRIES_CONF_INVALID',
      exitCode: 2,
      message,
    });
  });
});

describe('the version 1 format and repeated prefixes, as containers/image reads them', () => {
  // containers/image's testdata/v1-compatibility.conf
  const v1 = [
    '[registries.search]',
    'registries = ["registry-a.com////", "registry-c.com", "registry-d.com"]',
    '',
    '[registries.block]',
    'registries = ["registry-b.com"]',
    '',
    '[registries.insecure]',
    'registries = ["registry-b.com////", "registry-d.com", "registry-e.com", "registry-a.com"]',
    '',
  ].join('\n');

  it('a version 1 main file stands for insecure and blocked entries; the search list is not kart’s', () => {
    const entries = parseRegistriesConf(v1, 'v1.conf');
    expect(
      entries.map(({ prefix, location, insecure, blocked, mirrors, origin }) => ({
        prefix,
        location,
        insecure,
        blocked,
        mirrors,
        origin,
      })),
    ).toEqual([
      {
        prefix: 'registry-b.com',
        location: 'registry-b.com',
        insecure: true,
        blocked: true,
        mirrors: [],
        origin: 'v1.conf:4',
      },
      {
        prefix: 'registry-d.com',
        location: 'registry-d.com',
        insecure: true,
        blocked: false,
        mirrors: [],
        origin: 'v1.conf:7',
      },
      {
        prefix: 'registry-e.com',
        location: 'registry-e.com',
        insecure: true,
        blocked: false,
        mirrors: [],
        origin: 'v1.conf:7',
      },
      {
        prefix: 'registry-a.com',
        location: 'registry-a.com',
        insecure: true,
        blocked: false,
        mirrors: [],
        origin: 'v1.conf:7',
      },
    ]);
    const file = { registries: entries, files: ['v1.conf'] };
    expect(planPullSources(registryRef('registry-d.com/kernels/k:1'), file)).toEqual({
      upstream: { host: 'registry-d.com', repository: 'kernels/k', insecure: true },
      mirrors: [],
    });
    expect(() => planPullSources(registryRef('registry-b.com/bar/foo/barfoo:latest'), file)).toThrow(
      'pulling registry-b.com/bar/foo/barfoo:latest is blocked by registries.conf (v1.conf:4)',
    );
    // A search list alone (the usual old system file) configures nothing kart acts on.
    expect(
      parseRegistriesConf('[registries.search]\nregistries = ["docker.io", "quay.io"]\n', 'v1.conf'),
    ).toEqual([]);
  });

  it('the same prefix twice in one file: the first table wins', () => {
    const entries = parseRegistriesConf(
      '[[registry]]\nprefix = "a.example/kernels"\nlocation = "a.example/kernels"\n[[registry.mirror]]\nlocation = "first.site"\n\n' +
        '[[registry]]\nprefix = "a.example/kernels"\nlocation = "a.example/kernels"\n[[registry.mirror]]\nlocation = "second.site"\n',
      'dup.conf',
    );
    expect(
      entries.map((entry) => [entry.prefix, entry.mirrors.map((m) => m.location), entry.origin]),
    ).toEqual([['a.example/kernels', ['first.site'], 'dup.conf:1']]);
  });

  it('the system file in version 1 is read on every pull: converted; a version 1 drop-in is refused with its line', async () => {
    const root = join(work, 'v1');
    mkdirSync(join(root, 'etc/registries.conf.d'), { recursive: true });
    writeFileSync(join(root, 'etc/registries.conf'), v1);
    const where = {
      systemFile: join(root, 'etc/registries.conf'),
      systemDir: join(root, 'etc/registries.conf.d'),
      home: join(root, 'home'),
      env: {},
    };
    const loaded = await loadRegistriesConf(where);
    expect(loaded.registries.map((r) => [r.prefix, r.insecure, r.blocked])).toEqual([
      ['registry-b.com', true, true],
      ['registry-d.com', true, false],
      ['registry-e.com', true, false],
      ['registry-a.com', true, false],
    ]);
    const dropIn = join(root, 'etc/registries.conf.d/50-old.conf');
    writeFileSync(dropIn, '# an old file\n\n[registries.insecure]\nregistries = ["registry-f.com"]\n');
    const error = await kartErrorOf(loadRegistriesConf(where));
    expect({ code: error.code, exitCode: error.exitCode, message: error.message }).toEqual({
      code: 'REGISTRIES_CONF_INVALID',
      exitCode: 2,
      message: `${dropIn}:3: a registries.conf.d drop-in must be in the version 2 format; this is version 1`,
    });
  });
});

describe('where registries.conf is found', () => {
  function tree(name: string, files: Record<string, string>): string {
    const root = join(work, name);
    for (const [path, text] of Object.entries(files)) {
      mkdirSync(join(root, path, '..'), { recursive: true });
      writeFileSync(join(root, path), text);
    }
    return root;
  }
  const entry = (prefix: string, mirror: string) =>
    `[[registry]]\nlocation = "${prefix}"\n[[registry.mirror]]\nlocation = "${mirror}"\n`;

  it('the system file and its drop-ins, in name order, a drop-in replacing the same prefix', async () => {
    const root = tree('system', {
      'etc/registries.conf': entry('a.example', 'system.site') + entry('b.example', 'b.site'),
      'etc/registries.conf.d/20-later.conf': entry('a.example', 'later.site'),
      'etc/registries.conf.d/10-first.conf': entry('a.example', 'first.site'),
      'etc/registries.conf.d/30-aliases.conf': '[aliases]\n"zone" = "a.example/zone"\n',
      'etc/registries.conf.d/ignored.txt': 'not read',
    });
    const loaded = await loadRegistriesConf({
      systemFile: join(root, 'etc/registries.conf'),
      systemDir: join(root, 'etc/registries.conf.d'),
      home: join(root, 'home'),
      env: {},
    });
    expect(loaded.files.map((file) => file.slice(root.length))).toEqual([
      '/etc/registries.conf',
      '/etc/registries.conf.d/10-first.conf',
      '/etc/registries.conf.d/20-later.conf',
      '/etc/registries.conf.d/30-aliases.conf',
    ]);
    expect(Object.fromEntries(loaded.registries.map((r) => [r.prefix, r.mirrors[0]?.location]))).toEqual({
      'a.example': 'later.site',
      'b.example': 'b.site',
    });
  });

  it("the user's file replaces the system file and its drop-ins; --registries-conf replaces both", async () => {
    const root = tree('user', {
      'etc/registries.conf': entry('a.example', 'system.site'),
      'etc/registries.conf.d/10.conf': entry('b.example', 'system-dropin.site'),
      'home/.config/containers/registries.conf': entry('a.example', 'user.site'),
      'home/.config/containers/registries.conf.d/10.conf': entry('c.example', 'user-dropin.site'),
      'explicit.conf': entry('a.example', 'explicit.site'),
    });
    const where = {
      systemFile: join(root, 'etc/registries.conf'),
      systemDir: join(root, 'etc/registries.conf.d'),
      home: join(root, 'home'),
      env: {},
    };
    const mirrors = (loaded: RegistriesConf) =>
      Object.fromEntries(loaded.registries.map((r) => [r.prefix, r.mirrors[0]?.location]));
    expect(mirrors(await loadRegistriesConf(where))).toEqual({
      'a.example': 'user.site',
      'c.example': 'user-dropin.site',
    });
    const explicit = { ...where, file: join(root, 'explicit.conf') };
    expect(mirrors(await loadRegistriesConf(explicit))).toEqual({
      'a.example': 'explicit.site',
      'b.example': 'system-dropin.site',
      'c.example': 'user-dropin.site',
    });
    // $CONTAINERS_REGISTRIES_CONF is the same as --registries-conf
    expect(
      mirrors(await loadRegistriesConf({ ...where, env: { CONTAINERS_REGISTRIES_CONF: explicit.file } })),
    ).toEqual(mirrors(await loadRegistriesConf(explicit)));
  });

  it('no file at all is no mirror; a missing --registries-conf is an error', async () => {
    const root = tree('none', { 'placeholder.txt': '' });
    const where = {
      systemFile: join(root, 'nope.conf'),
      systemDir: join(root, 'nope.d'),
      home: root,
      env: {},
    };
    expect(await loadRegistriesConf(where)).toEqual({ registries: [], files: [] });
    const error = await kartErrorOf(loadRegistriesConf({ ...where, file: join(root, 'missing.conf') }));
    expect({ code: error.code, exitCode: error.exitCode }).toEqual({
      code: 'REGISTRIES_CONF_UNREADABLE',
      exitCode: 2,
    });
    expect(error.message).toBe(`cannot read registries.conf ${join(root, 'missing.conf')}: ENOENT`);
  });
});
