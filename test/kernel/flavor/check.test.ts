import { describe, expect, it } from 'vitest';
import { parseKernelConfig } from '../../../src/kernel/config/index.ts';
import {
  checkConfig,
  parseFlavorFile,
  renderCheckGithub,
  renderCheckJson,
  renderCheckJunit,
  renderCheckText,
} from '../../../src/kernel/flavor/index.ts';
import type { Flavor } from '../../../src/kernel/flavor/index.ts';

/** A flavor built from file text, as the loader would (no extends). */
function flavor(name: string, text: string): Flavor {
  const contents = parseFlavorFile(text, name, `${name}.ini`);
  return {
    name,
    file: `${name}.ini`,
    description: contents.description ?? '',
    extends: [],
    requirements: contents.rules.filter((r) => r.level === 'require'),
    recommendations: contents.rules.filter((r) => r.level === 'recommend'),
  };
}

const CONFIG = parseKernelConfig(
  'CONFIG_XEN=y\n# CONFIG_XEN_VIRTIO is not set\nCONFIG_TCG_XEN=m\nCONFIG_LIMIT=512\nCONFIG_NAME="a,b:c"\n',
  'k/.config',
);
const GUEST = flavor(
  'guest',
  '[require]\nCONFIG_XEN = y\nCONFIG_XEN_VIRTIO = y\nCONFIG_TCG_XEN = m\nCONFIG_LIMIT = >=1024\nCONFIG_GONE = y\n[recommend]\nCONFIG_NAME = "x"\nCONFIG_OK = n\n',
);
const SMALL = flavor('small', '[require]\nCONFIG_XEN = y|m\nCONFIG_LIMIT = 0x200\n');

describe('checkConfig', () => {
  it('reports each failure with symbol, rule, actual value, flavor file:line and config line', () => {
    const report = checkConfig(CONFIG, [GUEST, SMALL]);
    expect(report.ok).toBe(false);
    expect(report.summary).toEqual({ flavors: 2, requirements: 7, failures: 3, warnings: 1 });
    expect(report.flavors[0]?.failures).toEqual([
      {
        symbol: 'CONFIG_XEN_VIRTIO',
        rule: 'y',
        level: 'require',
        ok: false,
        actual: 'not set',
        configLine: 2,
        flavorFile: 'guest.ini',
        flavorLine: 3,
        message: 'CONFIG_XEN_VIRTIO requires y but is not set (k/.config:2; required by guest.ini:3)',
      },
      {
        symbol: 'CONFIG_LIMIT',
        rule: '>=1024',
        level: 'require',
        ok: false,
        actual: '512',
        configLine: 4,
        flavorFile: 'guest.ini',
        flavorLine: 5,
        message: 'CONFIG_LIMIT requires >=1024 but is 512 (k/.config:4; required by guest.ini:5)',
      },
      {
        symbol: 'CONFIG_GONE',
        rule: 'y',
        level: 'require',
        ok: false,
        actual: 'absent',
        flavorFile: 'guest.ini',
        flavorLine: 6,
        message: 'CONFIG_GONE requires y but is absent (not in k/.config; required by guest.ini:6)',
      },
    ]);
    expect(report.flavors[0]?.warnings.map((w) => w.message)).toEqual([
      'CONFIG_NAME recommends "x" but is "a,b:c" (k/.config:5; recommended by guest.ini:8)',
    ]);
    expect(report.flavors[1]).toMatchObject({ flavor: 'small', ok: true, failures: [], warnings: [] });
    expect(report.flavors[0]?.requirements.map((r) => [r.symbol, r.ok])).toEqual([
      ['CONFIG_XEN', true],
      ['CONFIG_XEN_VIRTIO', false],
      ['CONFIG_TCG_XEN', true],
      ['CONFIG_LIMIT', false],
      ['CONFIG_GONE', false],
    ]);
  });

  it('is ok when every requirement holds, even with unmet recommendations', () => {
    const report = checkConfig(CONFIG, [SMALL, flavor('w', '[recommend]\nCONFIG_XEN = n\n')]);
    expect(report.ok).toBe(true);
    expect(report.summary).toEqual({ flavors: 2, requirements: 2, failures: 0, warnings: 1 });
  });

  it('carries the config reader warnings (duplicated symbols)', () => {
    const config = parseKernelConfig('CONFIG_XEN=m\nCONFIG_XEN=y\n', 'dup.config');
    const report = checkConfig(config, [SMALL]);
    expect(report.configWarnings).toHaveLength(1);
    expect(report.configWarnings[0]).toContain('CONFIG_XEN');
    expect(report.flavors[0]?.requirements[0]).toMatchObject({ actual: 'y', configLine: 2 });
  });
});

describe('renderers', () => {
  const report = checkConfig(CONFIG, [GUEST, SMALL]);

  it('text: grouped by flavor, the summary line last', () => {
    expect(renderCheckText(report)).toBe(
      [
        'guest (guest.ini): 3 of 5 required not met, 1 warning',
        '  FAIL CONFIG_XEN_VIRTIO requires y but is not set (k/.config:2; required by guest.ini:3)',
        '  FAIL CONFIG_LIMIT requires >=1024 but is 512 (k/.config:4; required by guest.ini:5)',
        '  FAIL CONFIG_GONE requires y but is absent (not in k/.config; required by guest.ini:6)',
        '  WARN CONFIG_NAME recommends "x" but is "a,b:c" (k/.config:5; recommended by guest.ini:8)',
        'small (small.ini): all 2 required met',
        'FAILED: 3 of 7 requirements not met in 1 of 2 flavors (guest); 1 warning; config k/.config',
        '',
      ].join('\n'),
    );
    expect(renderCheckText(checkConfig(CONFIG, [SMALL]))).toBe(
      'small (small.ini): all 2 required met\nOK: all 2 requirements met in 1 flavor (small); 0 warnings; config k/.config\n',
    );
  });

  it('json: the report itself', () => {
    expect(JSON.parse(renderCheckJson(report))).toEqual(JSON.parse(JSON.stringify(report)));
    expect(JSON.parse(renderCheckJson(report))).toMatchObject({ ok: false, config: 'k/.config' });
  });

  it('github: ::error at the .config line (or the flavor line when absent), escaped', () => {
    expect(renderCheckGithub(report)).toBe(
      [
        '::error file=k/.config,line=2,title=guest%3A CONFIG_XEN_VIRTIO::CONFIG_XEN_VIRTIO requires y but is not set (k/.config:2; required by guest.ini:3)',
        '::error file=k/.config,line=4,title=guest%3A CONFIG_LIMIT::CONFIG_LIMIT requires >=1024 but is 512 (k/.config:4; required by guest.ini:5)',
        '::error file=guest.ini,line=6,title=guest%3A CONFIG_GONE::CONFIG_GONE requires y but is absent (not in k/.config; required by guest.ini:6)',
        '::warning file=k/.config,line=5,title=guest%3A CONFIG_NAME::CONFIG_NAME recommends "x" but is "a,b:c" (k/.config:5; recommended by guest.ini:8)',
        'FAILED: 3 of 7 requirements not met in 1 of 2 flavors (guest); 1 warning; config k/.config',
        '',
      ].join('\n'),
    );
  });

  it('github: a config from stdin points at the flavor lines', () => {
    const stdin = parseKernelConfig('# CONFIG_XEN is not set\n', '-');
    expect(renderCheckGithub(checkConfig(stdin, [flavor('f%,', '[require]\nCONFIG_XEN = y\n')]))).toBe(
      '::error file=f%25%2C.ini,line=2,title=f%25%2C%3A CONFIG_XEN::CONFIG_XEN requires y but is not set (<stdin>:1; required by f%25,.ini:2)\n' +
        'FAILED: 1 of 1 requirement not met in 1 of 1 flavor (f%,); 0 warnings; config <stdin>\n',
    );
  });

  it('junit: one testcase per requirement, failures carry the message', () => {
    expect(renderCheckJunit(report)).toBe(
      [
        '<?xml version="1.0" encoding="UTF-8"?>',
        '<testsuites name="kart check" tests="7" failures="3">',
        '  <testsuite name="guest" tests="5" failures="3" file="guest.ini">',
        '    <testcase classname="guest" name="CONFIG_XEN = y" file="guest.ini" line="2"/>',
        '    <testcase classname="guest" name="CONFIG_XEN_VIRTIO = y" file="guest.ini" line="3">',
        '      <failure message="CONFIG_XEN_VIRTIO requires y but is not set (k/.config:2; required by guest.ini:3)" type="requirement">actual: not set</failure>',
        '    </testcase>',
        '    <testcase classname="guest" name="CONFIG_TCG_XEN = m" file="guest.ini" line="4"/>',
        '    <testcase classname="guest" name="CONFIG_LIMIT = &gt;=1024" file="guest.ini" line="5">',
        '      <failure message="CONFIG_LIMIT requires &gt;=1024 but is 512 (k/.config:4; required by guest.ini:5)" type="requirement">actual: 512</failure>',
        '    </testcase>',
        '    <testcase classname="guest" name="CONFIG_GONE = y" file="guest.ini" line="6">',
        '      <failure message="CONFIG_GONE requires y but is absent (not in k/.config; required by guest.ini:6)" type="requirement">actual: absent</failure>',
        '    </testcase>',
        '    <system-out>WARN CONFIG_NAME recommends &quot;x&quot; but is &quot;a,b:c&quot; (k/.config:5; recommended by guest.ini:8)</system-out>',
        '  </testsuite>',
        '  <testsuite name="small" tests="2" failures="0" file="small.ini">',
        '    <testcase classname="small" name="CONFIG_XEN = y|m" file="small.ini" line="2"/>',
        '    <testcase classname="small" name="CONFIG_LIMIT = 0x200" file="small.ini" line="3"/>',
        '  </testsuite>',
        '</testsuites>',
        '',
      ].join('\n'),
    );
  });
});
