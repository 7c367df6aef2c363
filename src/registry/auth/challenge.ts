import { KartError } from '../../errors.ts';

/**
 * WWW-Authenticate parsing (RFC 9110 §11): one header may carry several challenges, each a scheme
 * followed by either a token68 or comma-separated `name=value` params whose values may be quoted
 * strings (with backslash escapes and commas inside). Any input either parses or raises
 * AUTH_CHALLENGE_INVALID; nothing here throws anything else.
 */
export interface Challenge {
  /** Lowercased, e.g. `bearer`, `basic`. */
  scheme: string;
  /** Param names lowercased; the first of duplicate names wins. */
  params: Record<string, string>;
  token68?: string;
}

const MAX_HEADER_LENGTH = 16 * 1024;
const TCHAR = /[!#$%&'*+.^_`|~0-9A-Za-z-]/;
const TOKEN68_CHAR = /[A-Za-z0-9\-._~+/]/;

function invalid(header: string, what: string): KartError {
  const shown = header.length > 200 ? `${header.slice(0, 200)}…` : header;
  return new KartError(
    'AUTH_CHALLENGE_INVALID',
    `the registry's WWW-Authenticate header is malformed: ${what}`,
    {
      exitCode: 3,
      hint: 'the registry answered 401 with a challenge kart cannot read; check the registry URL',
      details: { header: shown },
    },
  );
}

export function parseWwwAuthenticate(header: string): Challenge[] {
  if (header.length > MAX_HEADER_LENGTH) throw invalid(header, `longer than ${MAX_HEADER_LENGTH} characters`);
  const challenges: Challenge[] = [];
  let i = 0;
  const n = header.length;
  const skipSpace = () => {
    while (i < n && (header[i] === ' ' || header[i] === '\t')) i++;
  };
  const readToken = (): string => {
    const start = i;
    while (i < n && TCHAR.test(header[i]!)) i++;
    return header.slice(start, i);
  };
  const readQuoted = (): string => {
    i++; // opening quote
    let value = '';
    while (i < n) {
      const ch = header[i]!;
      if (ch === '"') {
        i++;
        return value;
      }
      if (ch === '\\') {
        i++;
        if (i >= n) break;
      }
      value += header[i];
      i++;
    }
    throw invalid(header, 'a quoted value is not closed');
  };

  for (;;) {
    while (i < n && (header[i] === ' ' || header[i] === '\t' || header[i] === ',')) i++;
    if (i >= n) break;
    const scheme = readToken();
    if (scheme === '') throw invalid(header, `unexpected character "${header[i]}" where a scheme should be`);
    const challenge: Challenge = { scheme: scheme.toLowerCase(), params: {} };
    challenges.push(challenge);
    if (i < n && header[i] !== ' ' && header[i] !== '\t' && header[i] !== ',') {
      throw invalid(header, `unexpected character "${header[i]}" after the scheme "${scheme}"`);
    }
    skipSpace();
    // token68: a run of token68 characters, then only '=' padding, then the end or a comma.
    const t68Start = i;
    while (i < n && TOKEN68_CHAR.test(header[i]!)) i++;
    const t68End = i;
    while (i < n && header[i] === '=') i++;
    const afterPad = i;
    skipSpace();
    if (t68End > t68Start && (i >= n || header[i] === ',')) {
      challenge.token68 = header.slice(t68Start, afterPad);
      continue;
    }
    i = t68Start;
    // auth-params
    for (;;) {
      skipSpace();
      if (i >= n) break;
      const mark = i;
      const name = readToken();
      if (name === '') {
        if (header[i] === ',') {
          i++;
          continue;
        }
        throw invalid(header, `unexpected character "${header[i]}" in the parameters of "${scheme}"`);
      }
      skipSpace();
      if (header[i] !== '=') {
        // Not a param: this token starts the next challenge.
        i = mark;
        break;
      }
      i++;
      skipSpace();
      const value = header[i] === '"' ? readQuoted() : readToken();
      const key = name.toLowerCase();
      if (!(key in challenge.params)) challenge.params[key] = value;
      skipSpace();
      if (i >= n) break;
      if (header[i] !== ',') throw invalid(header, `expected "," after the parameter "${name}"`);
      i++;
    }
  }
  if (challenges.length === 0) throw invalid(header, 'it is empty');
  return challenges;
}
