import { describe, expect, it } from 'vitest';
import { KartError } from '../../../src/errors.ts';
import {
  formatConfigValue,
  parseKernelConfig,
  serializeKernelConfig,
  type ConfigEntry,
} from '../../../src/kernel/config/index.ts';

const HINT =
  'pass a kernel .config (for example /boot/config-$(uname -r)), a config.gz such as /proc/config.gz, or - for stdin';

function parseError(text: string, source = 'test.config'): KartError {
  try {
    parseKernelConfig(text, source);
  } catch (error) {
    expect(error).toBeInstanceOf(KartError);
    return error as KartError;
  }
  throw new Error('expected parseKernelConfig to throw');
}

describe('parseKernelConfig: values', () => {
  it('reads tristates, strings, decimal and hex numbers, and "is not set"', () => {
    const config = parseKernelConfig(
      [
        'CONFIG_A=y',
        'CONFIG_B=m',
        'CONFIG_C=n',
        'CONFIG_D="hello world"',
        'CONFIG_E=""',
        'CONFIG_F=512',
        'CONFIG_G=-1',
        'CONFIG_H=0x1000000',
        'CONFIG_I=0XfF',
        '# CONFIG_J is not set',
        '',
      ].join('\n'),
      'test.config',
    );
    const get = (name: string) => config.get(name);
    expect(get('CONFIG_A')).toEqual({ name: 'CONFIG_A', value: { kind: 'tristate', value: 'y' }, line: 1 });
    expect(get('CONFIG_B')?.value).toEqual({ kind: 'tristate', value: 'm' });
    expect(get('CONFIG_C')?.value).toEqual({ kind: 'tristate', value: 'n' });
    expect(get('CONFIG_D')?.value).toEqual({ kind: 'string', value: 'hello world' });
    expect(get('CONFIG_E')?.value).toEqual({ kind: 'string', value: '' });
    expect(get('CONFIG_F')?.value).toEqual({ kind: 'number', value: 512n, text: '512' });
    expect(get('CONFIG_G')?.value).toEqual({ kind: 'number', value: -1n, text: '-1' });
    expect(get('CONFIG_H')?.value).toEqual({ kind: 'number', value: 0x1000000n, text: '0x1000000' });
    expect(get('CONFIG_I')?.value).toEqual({ kind: 'number', value: 255n, text: '0XfF' });
    expect(get('CONFIG_J')).toEqual({ name: 'CONFIG_J', value: { kind: 'unset' }, line: 10 });
    expect(get('CONFIG_ABSENT')).toBeUndefined();
    expect(config.source).toBe('test.config');
    expect(config.warnings).toEqual([]);
  });

  it('unescapes backslash escapes in strings, and serializes the line unchanged', () => {
    const text = 'CONFIG_CMDLINE="console=\\"ttyS0\\" path=C:\\\\x \\q"\n';
    const config = parseKernelConfig(text, 'test.config');
    expect(config.get('CONFIG_CMDLINE')?.value).toEqual({
      kind: 'string',
      value: 'console="ttyS0" path=C:\\x q',
    });
    expect(formatConfigValue(config.get('CONFIG_CMDLINE')!.value)).toBe(
      '"console=\\"ttyS0\\" path=C:\\\\x q"',
    );
    expect(serializeKernelConfig(config)).toBe(text);
  });

  it('skips comments and blank lines but keeps their line numbers and bytes', () => {
    const text =
      '#\n# Automatically generated file; DO NOT EDIT.\n\n   \n# CONFIG_X is a comment\nCONFIG_X=y\n';
    const config = parseKernelConfig(text, 'test.config');
    expect([...config.entries()]).toEqual([
      { name: 'CONFIG_X', value: { kind: 'tristate', value: 'y' }, line: 6 },
    ]);
    expect(serializeKernelConfig(config)).toBe(text);
  });

  it('reads CRLF line endings and a last line without a newline, and gives both back byte for byte', () => {
    const text = 'CONFIG_A=y\r\n# CONFIG_B is not set\r\n\r\nCONFIG_C="x"';
    const config = parseKernelConfig(text, 'test.config');
    expect(config.get('CONFIG_A')?.value).toEqual({ kind: 'tristate', value: 'y' });
    expect(config.get('CONFIG_B')).toEqual({ name: 'CONFIG_B', value: { kind: 'unset' }, line: 2 });
    expect(config.get('CONFIG_C')).toEqual({
      name: 'CONFIG_C',
      value: { kind: 'string', value: 'x' },
      line: 4,
    });
    expect(serializeKernelConfig(config)).toBe(text);
  });

  it('takes a CR before the end of input as a line ending, as Kconfig does', () => {
    const config = parseKernelConfig('CONFIG_A=m\r', 'test.config');
    expect(config.get('CONFIG_A')?.value).toEqual({ kind: 'tristate', value: 'm' });
    expect(serializeKernelConfig(config)).toBe('CONFIG_A=m\r');
  });

  it('parses empty input as an empty config', () => {
    const config = parseKernelConfig('', 'empty');
    expect([...config.entries()]).toEqual([]);
    expect(serializeKernelConfig(config)).toBe('');
  });

  it('lists entries in the order symbols first appear', () => {
    const config = parseKernelConfig('CONFIG_B=y\nCONFIG_A=y\nCONFIG_B=m\n', 'test.config');
    expect([...config.entries()].map((e: ConfigEntry) => `${e.name}@${e.line}`)).toEqual([
      'CONFIG_B@3',
      'CONFIG_A@2',
    ]);
  });
});

describe('parseKernelConfig: a duplicated symbol', () => {
  it('keeps the last value and warns, naming both lines', () => {
    const config = parseKernelConfig('CONFIG_XEN=y\n# comment\n# CONFIG_XEN is not set\n', 'dup.config');
    expect(config.get('CONFIG_XEN')).toEqual({ name: 'CONFIG_XEN', value: { kind: 'unset' }, line: 3 });
    expect(config.warnings).toEqual([
      {
        code: 'DUPLICATE_SYMBOL',
        name: 'CONFIG_XEN',
        line: 3,
        previousLine: 1,
        message: 'dup.config:3: CONFIG_XEN is set again (before on line 1); the value on line 3 wins',
      },
    ]);
  });

  it('warns once per repetition, each naming the value it overrides', () => {
    const config = parseKernelConfig('CONFIG_A=1\nCONFIG_A=2\nCONFIG_A=3\n', '-');
    expect(config.get('CONFIG_A')?.value).toEqual({ kind: 'number', value: 3n, text: '3' });
    expect(config.warnings.map((w) => w.message)).toEqual([
      '<stdin>:2: CONFIG_A is set again (before on line 1); the value on line 2 wins',
      '<stdin>:3: CONFIG_A is set again (before on line 2); the value on line 3 wins',
    ]);
  });
});

describe('parseKernelConfig: input that is not a kernel config (CONFIG_INVALID, exit 2)', () => {
  const cases: Array<[string, string, string]> = [
    [
      'a line that is not an assignment',
      'CONFIG_A=y\nhello world\n',
      'test.config:2: expected CONFIG_NAME=value, "# CONFIG_NAME is not set", a # comment or a blank line, but found "hello world"',
    ],
    [
      'an indented assignment',
      '  CONFIG_A=y\n',
      'test.config:1: expected CONFIG_NAME=value, "# CONFIG_NAME is not set", a # comment or a blank line, but found "  CONFIG_A=y"',
    ],
    [
      'a symbol without "="',
      'CONFIG_A y\n',
      'test.config:1: expected CONFIG_NAME=value, "# CONFIG_NAME is not set", a # comment or a blank line, but found "CONFIG_A y"',
    ],
    [
      'a symbol name with a bad character',
      'CONFIG_A-B=y\n',
      'test.config:1: expected CONFIG_NAME=value, "# CONFIG_NAME is not set", a # comment or a blank line, but found "CONFIG_A-B=y"',
    ],
    [
      'an empty value',
      '\n\nCONFIG_A=\n',
      'test.config:3: CONFIG_A has no value after "="; expected y, m, n, a quoted string, a decimal number or a 0x hex number',
    ],
    [
      'an unquoted word',
      'CONFIG_A=yes\n',
      'test.config:1: CONFIG_A has the value "yes"; expected y, m, n, a quoted string, a decimal number or a 0x hex number',
    ],
    [
      'a value with trailing space',
      'CONFIG_A=y \n',
      'test.config:1: CONFIG_A has the value "y "; expected y, m, n, a quoted string, a decimal number or a 0x hex number',
    ],
    [
      'hex without digits',
      'CONFIG_A=0x\n',
      'test.config:1: CONFIG_A has the value "0x"; expected y, m, n, a quoted string, a decimal number or a 0x hex number',
    ],
    [
      'an unterminated string',
      'CONFIG_A="abc\n',
      'test.config:1: CONFIG_A has an unterminated string; expected a closing double quote',
    ],
    [
      'a string ending in a lone backslash',
      'CONFIG_A="abc\\"\n',
      'test.config:1: CONFIG_A has an unterminated string; expected a closing double quote',
    ],
    [
      'text after the closing quote',
      'CONFIG_A="abc" # note\n',
      'test.config:1: CONFIG_A has text after its closing quote: " # note"; expected the line to end there',
    ],
    [
      'binary data',
      'CONFIG_A=y\nCONFIG_B=y\n\u0000\u0001ELF',
      'test.config:3: holds binary data (a NUL byte); this is not a kernel .config',
    ],
    [
      'control characters, shown escaped',
      '\u001b[31mred\n',
      'test.config:1: expected CONFIG_NAME=value, "# CONFIG_NAME is not set", a # comment or a blank line, but found "\\u001b[31mred"',
    ],
  ];
  for (const [what, text, message] of cases) {
    it(`refuses ${what}`, () => {
      const error = parseError(text);
      expect(error.code).toBe('CONFIG_INVALID');
      expect(error.exitCode).toBe(2);
      expect(error.message).toBe(message);
      expect(error.hint).toBe(HINT);
    });
  }

  it('quotes a long offending line only in part', () => {
    const error = parseError(`x${'a'.repeat(100)}\n`);
    expect(error.message).toBe(
      `test.config:1: expected CONFIG_NAME=value, "# CONFIG_NAME is not set", a # comment or a blank line, but found "x${'a'.repeat(59)}…"`,
    );
  });

  it('names stdin as <stdin> and records source and line in details', () => {
    const error = parseError('CONFIG_A=maybe\n', '-');
    expect(error.message).toBe(
      '<stdin>:1: CONFIG_A has the value "maybe"; expected y, m, n, a quoted string, a decimal number or a 0x hex number',
    );
    expect(error.details).toEqual({ source: '-', line: 1 });
  });
});
