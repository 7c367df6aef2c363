import { readFile } from 'node:fs/promises';
import { KartError } from '../../errors.ts';
import { configUnreadable, displaySource, excerpt } from './errors.ts';
import { splitLines } from './parse.ts';

export interface AllowList {
  source: string;
  /** symbol → the line that allows it */
  names: ReadonlyMap<string, number>;
}

const NAME = /^CONFIG_[A-Za-z0-9_]+$/;

/**
 * An allow-list of symbols whose requested values may be lost: one exact symbol name a line, a `#` comment
 * after it or on its own line, blank lines ignored. Names are never patterns: Kata's whitelist fed lines
 * to `grep -v -f` as regexes, so `CONFIG_MTRR` excused CONFIG_MTRR_SANITIZER and one blank line excused
 * everything. Anything that is not a name is an error rather than a silent match-all.
 */
export function parseAllowList(text: string, source: string): AllowList {
  const names = new Map<string, number>();
  splitLines(text).forEach(({ text: raw }, index) => {
    const content = raw.replace(/#.*$/s, '').trim();
    if (content === '') return;
    if (!NAME.test(content)) {
      throw new KartError(
        'CONFIG_ALLOWLIST_INVALID',
        `${displaySource(source)}:${index + 1}: expected one exact symbol name such as CONFIG_X86_SGX (a # comment may follow), but found ${excerpt(raw.trim())}`,
        {
          hint: 'write one CONFIG_ name per line; patterns and wildcards are not supported',
          exitCode: 2,
          details: { source, line: index + 1 },
        },
      );
    }
    if (!names.has(content)) names.set(content, index + 1);
  });
  return { source, names };
}

export async function readAllowList(path: string): Promise<AllowList> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    throw configUnreadable(path, error);
  }
  return parseAllowList(text, path);
}
