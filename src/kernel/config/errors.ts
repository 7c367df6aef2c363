import { KartError } from '../../errors.ts';

/** What every "this is not a kernel config" error tells the user to do instead. */
const CONFIG_HINT =
  'pass a kernel .config (for example /boot/config-$(uname -r)), a config.gz such as /proc/config.gz, or - for stdin';

/** CONFIG_INVALID: the input is not a kernel .config; the message names source, line and what was expected. */
export function configInvalid(source: string, line: number | undefined, message: string): KartError {
  const where = line === undefined ? displaySource(source) : `${displaySource(source)}:${line}`;
  return new KartError('CONFIG_INVALID', `${where}: ${message}`, {
    hint: CONFIG_HINT,
    exitCode: 2,
    details: { source, ...(line === undefined ? {} : { line }) },
  });
}

/** CONFIG_EMPTY: a whole config was expected, and the input sets no CONFIG_ symbol at all. */
export function configEmpty(source: string): KartError {
  return new KartError(
    'CONFIG_EMPTY',
    `${displaySource(source)}: no CONFIG_ symbol in it; a kernel .config sets thousands`,
    { hint: CONFIG_HINT, exitCode: 2, details: { source } },
  );
}

/** A line quoted in a message: bounded, and with control characters escaped so a terminal shows them. */
export function excerpt(text: string, max = 60): string {
  return JSON.stringify(text.length > max ? `${text.slice(0, max)}…` : text);
}

/** How a source reads in a message: stdin (`-`) as <stdin>, anything else as given. */
export function displaySource(source: string): string {
  return source === '-' ? '<stdin>' : source;
}

/** CONFIG_UNREADABLE: the file could not be read; names the path and the OS reason. */
export function configUnreadable(source: string, cause: unknown): KartError {
  return new KartError('CONFIG_UNREADABLE', `cannot read ${displaySource(source)}: ${osReason(cause)}`, {
    hint: 'check that the path exists and is a readable file',
    exitCode: 2,
    cause,
    details: { source },
  });
}

/** "ENOENT: no such file or directory" from Node's "ENOENT: no such file or directory, open '/x'". */
function osReason(cause: unknown): string {
  if (!(cause instanceof Error)) return String(cause);
  const code = (cause as NodeJS.ErrnoException).code;
  const message = cause.message.replace(/, \w+ '.*'$/s, '').replace(/, \w+$/, '');
  return code !== undefined && !message.startsWith(code) ? `${code}: ${message}` : message;
}
