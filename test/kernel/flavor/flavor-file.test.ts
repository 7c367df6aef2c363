import { describe, expect, it } from 'vitest';
import { KartError } from '../../../src/errors.ts';
import { parseFlavorFile } from '../../../src/kernel/flavor/index.ts';

const FORMAT_HINT =
  'a flavor file holds description/extends/repository/addons_max_bytes keys, then [require] and [recommend] sections of CONFIG_X = <rule> lines';

function parseError(text: string): KartError {
  try {
    parseFlavorFile(text, 'my', 'my.ini');
  } catch (error) {
    expect(error).toBeInstanceOf(KartError);
    return error as KartError;
  }
  throw new Error('expected the flavor file to be rejected');
}

describe('flavor file reader', () => {
  it('reads keys, sections, comments, CRLF and a BOM, keeping each rule line', () => {
    const text = [
      '\uFEFF# a comment',
      '; another comment',
      'description = "My zone"',
      'extends = zone , dm-verity',
      'repository = acme/zone-kernel',
      'addons_max_bytes = 1024',
      '',
      '[require]',
      '  CONFIG_XEN = y   # inline comment',
      'CONFIG_LOCALVERSION = "-a #1; b"',
      '[ recommend ]  ; trailing',
      'CONFIG_HZ = >=250|0x64',
    ].join('\r\n');
    const contents = parseFlavorFile(text, 'my', 'my.ini');
    expect(contents).toEqual({
      description: 'My zone',
      extends: [
        { name: 'zone', line: 4 },
        { name: 'dm-verity', line: 4 },
      ],
      repository: 'acme/zone-kernel',
      addonsMaxBytes: 1024,
      rules: [
        {
          symbol: 'CONFIG_XEN',
          rule: { kind: 'y' },
          ruleText: 'y',
          level: 'require',
          flavor: 'my',
          file: 'my.ini',
          line: 9,
        },
        {
          symbol: 'CONFIG_LOCALVERSION',
          rule: { kind: 'string', value: '-a #1; b' },
          ruleText: '"-a #1; b"',
          level: 'require',
          flavor: 'my',
          file: 'my.ini',
          line: 10,
        },
        {
          symbol: 'CONFIG_HZ',
          rule: {
            kind: 'any',
            alternatives: [
              { kind: 'at-least', value: 250n },
              { kind: 'number', value: 100n },
            ],
          },
          ruleText: '>=250|0x64',
          level: 'recommend',
          flavor: 'my',
          file: 'my.ini',
          line: 12,
        },
      ],
    });
  });

  it('an empty file is a flavor with no rules', () => {
    expect(parseFlavorFile('', 'e', 'e.ini')).toEqual({ extends: [], rules: [] });
  });

  const cases: [string, string, string, string, string?][] = [
    [
      'an unknown top-level key',
      'description = x\nflavour = zone\n',
      'FLAVOR_UNKNOWN_KEY',
      'my.ini:2: unknown key "flavour"; before the first section the keys are description, extends, repository, addons_max_bytes',
    ],
    [
      'a rule before any section',
      'CONFIG_XEN = y\n',
      'FLAVOR_UNKNOWN_KEY',
      'my.ini:1: unknown key "CONFIG_XEN"; before the first section the keys are description, extends, repository, addons_max_bytes',
      'put CONFIG_XEN under a [require] or [recommend] section',
    ],
    [
      'a non-symbol key in a section',
      '[require]\nXEN = y\n',
      'FLAVOR_UNKNOWN_KEY',
      'my.ini:2: unknown key "XEN" in [require]; keys there are kernel symbols such as CONFIG_XEN',
    ],
    [
      'an unknown section',
      '\n[requires]\n',
      'FLAVOR_UNKNOWN_SECTION',
      'my.ini:2: unknown section [requires]; a flavor file has only [require] and [recommend]',
    ],
    [
      'a line that is no key = value',
      '[require]\nCONFIG_XEN y\n',
      'FLAVOR_SYNTAX',
      'my.ini:2: expected "key = value" or a [section], found "CONFIG_XEN y"',
    ],
    [
      'a line starting with =',
      '= y\n',
      'FLAVOR_SYNTAX',
      'my.ini:1: expected "key = value" or a [section], found "= y"',
    ],
    [
      'unknown rule syntax',
      '[recommend]\nCONFIG_XEN = yes\n',
      'FLAVOR_BAD_RULE',
      'my.ini:2: CONFIG_XEN: unknown rule "yes"; expected y, m, n, a "quoted string", a number (decimal or 0x hex), >=N, <=N, or alternatives such as y|m',
    ],
    [
      'an empty rule',
      '[require]\nCONFIG_XEN =\n',
      'FLAVOR_BAD_RULE',
      'my.ini:2: CONFIG_XEN: empty rule; expected y, m, n, a "quoted string", a number (decimal or 0x hex), >=N, <=N, or alternatives such as y|m',
    ],
    [
      'a symbol given twice',
      '[require]\nCONFIG_XEN = y\n[recommend]\nCONFIG_XEN = m\n',
      'FLAVOR_DUPLICATE_KEY',
      'my.ini:4: CONFIG_XEN is already given at line 2',
    ],
    [
      'a top-level key given twice',
      'repository = a\nrepository = b\n',
      'FLAVOR_DUPLICATE_KEY',
      'my.ini:2: repository is already given at line 1',
    ],
    [
      'an empty extends entry',
      'extends = zone,,host\n',
      'FLAVOR_BAD_VALUE',
      'my.ini:1: extends has an empty name; write flavor names or paths separated by commas',
    ],
    [
      'a bad repository name',
      'repository = Zone_Kernel\n',
      'FLAVOR_BAD_VALUE',
      'my.ini:1: repository "Zone_Kernel" is not a valid repository name (lowercase letters, digits, and . _ - / separators)',
    ],
    [
      'a bad addons limit',
      'addons_max_bytes = 50M\n',
      'FLAVOR_BAD_VALUE',
      'my.ini:1: addons_max_bytes "50M" is not a whole number of bytes',
    ],
    [
      'an addons limit too large to be exact',
      'addons_max_bytes = 99999999999999999999\n',
      'FLAVOR_BAD_VALUE',
      'my.ini:1: addons_max_bytes "99999999999999999999" is not a whole number of bytes',
    ],
  ];
  for (const [what, text, code, message, hint] of cases) {
    it(`rejects ${what} with ${code}, naming file and line`, () => {
      const error = parseError(text);
      expect(error.code).toBe(code);
      expect(error.message).toBe(message);
      expect(error.hint).toBe(hint ?? FORMAT_HINT);
      expect(error.exitCode).toBe(2);
    });
  }
});
