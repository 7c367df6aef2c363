import type { ConfigEntry, ConfigLine, ConfigValue, ConfigWarning, KernelConfigWithLines } from './types.ts';
import { kernelConfigFromParts } from './model.ts';
import { configInvalid, displaySource, excerpt } from './errors.ts';

// Kconfig symbol names are [A-Za-z0-9_]; .config writes them with the CONFIG_ prefix.
const UNSET = /^# (CONFIG_[A-Za-z0-9_]+) is not set/;
const ASSIGNMENT = /^(CONFIG_[A-Za-z0-9_]+)=(.*)$/s;
const DECIMAL = /^-?[0-9]+$/;
const HEX = /^0[xX][0-9a-fA-F]+$/;
const EXPECTED_VALUE = 'expected y, m, n, a quoted string, a decimal number or a 0x hex number';

/**
 * Parses a kernel `.config` the way Kconfig reads one (scripts/kconfig/confdata.c), but strictly:
 * a line that Kconfig would only warn about is an error here, because a checker that silently skips
 * what it cannot read would pass configs it never looked at.
 *
 * `source` names the input in messages (a path, `-`, or a label). A symbol set twice keeps its last
 * value, as Kconfig does, and leaves a DUPLICATE_SYMBOL warning naming both lines.
 */
export function parseKernelConfig(text: string, source: string): KernelConfigWithLines {
  const nul = text.indexOf('\0');
  if (nul >= 0) {
    const line = countNewlines(text, nul) + 1;
    throw configInvalid(source, line, 'holds binary data (a NUL byte); this is not a kernel .config');
  }
  const lines = splitLines(text);
  const entries = new Map<string, ConfigEntry>();
  const warnings: ConfigWarning[] = [];
  lines.forEach(({ text: raw }, index) => {
    const lineNo = index + 1;
    // Kconfig drops a trailing CR even where no LF follows; so do we (the line keeps it for serializing).
    const content = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
    const parsed = parseLine(content, source, lineNo);
    if (parsed === undefined) return;
    const previous = entries.get(parsed.name);
    if (previous !== undefined) {
      warnings.push({
        code: 'DUPLICATE_SYMBOL',
        name: parsed.name,
        line: lineNo,
        previousLine: previous.line,
        message: `${displaySource(source)}:${lineNo}: ${parsed.name} is set again (before on line ${previous.line}); the value on line ${lineNo} wins`,
      });
    }
    // Map.set on an existing key keeps its position: entries() stays in first-appearance order.
    entries.set(parsed.name, { name: parsed.name, value: parsed.value, line: lineNo });
  });
  return kernelConfigFromParts(source, entries, lines, warnings);
}

function countNewlines(text: string, end: number): number {
  let count = 0;
  for (let i = text.indexOf('\n'); i >= 0 && i < end; i = text.indexOf('\n', i + 1)) count++;
  return count;
}

/** Physical lines with their terminators, so that joining text + eol gives back the input exactly. */
export function splitLines(text: string): ConfigLine[] {
  const lines: ConfigLine[] = [];
  let start = 0;
  while (start < text.length) {
    const lf = text.indexOf('\n', start);
    if (lf < 0) {
      lines.push({ text: text.slice(start), eol: '' });
      break;
    }
    const crlf = lf > start && text[lf - 1] === '\r';
    lines.push({ text: text.slice(start, crlf ? lf - 1 : lf), eol: crlf ? '\r\n' : '\n' });
    start = lf + 1;
  }
  return lines;
}

/** One line: an entry, or undefined for a comment or blank line. */
function parseLine(
  content: string,
  source: string,
  line: number,
): { name: string; value: ConfigValue } | undefined {
  if (content.startsWith('#')) {
    const unset = UNSET.exec(content);
    return unset ? { name: unset[1]!, value: { kind: 'unset' } } : undefined;
  }
  if (/^[ \t]*$/.test(content)) return undefined;
  const assignment = ASSIGNMENT.exec(content);
  if (!assignment) {
    throw configInvalid(
      source,
      line,
      `expected CONFIG_NAME=value, "# CONFIG_NAME is not set", a # comment or a blank line, but found ${excerpt(content)}`,
    );
  }
  const name = assignment[1]!;
  return { name, value: parseValue(assignment[2]!, name, source, line) };
}

function parseValue(text: string, name: string, source: string, line: number): ConfigValue {
  if (text === 'y' || text === 'm' || text === 'n') return { kind: 'tristate', value: text };
  if (text.startsWith('"')) return { kind: 'string', value: parseString(text, name, source, line) };
  if (DECIMAL.test(text) || HEX.test(text)) return { kind: 'number', value: BigInt(text), text };
  if (text === '') throw configInvalid(source, line, `${name} has no value after "="; ${EXPECTED_VALUE}`);
  throw configInvalid(source, line, `${name} has the value ${excerpt(text)}; ${EXPECTED_VALUE}`);
}

/** A quoted string; a backslash escapes the character after it (Kconfig writes \" and \\). */
function parseString(text: string, name: string, source: string, line: number): string {
  let value = '';
  for (let i = 1; i < text.length; i++) {
    const c = text[i]!;
    if (c === '"') {
      if (i !== text.length - 1) {
        throw configInvalid(
          source,
          line,
          `${name} has text after its closing quote: ${excerpt(text.slice(i + 1))}; expected the line to end there`,
        );
      }
      return value;
    }
    if (c === '\\') {
      i++;
      if (i >= text.length) break;
      value += text[i]!;
    } else {
      value += c;
    }
  }
  throw configInvalid(source, line, `${name} has an unterminated string; expected a closing double quote`);
}
