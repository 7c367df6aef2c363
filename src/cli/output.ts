import { isKartError, KartError } from '../errors.ts';

/**
 * How every command reports: results to stdout (text or --json), progress and errors to stderr,
 * exit status from the error's exitCode. Nothing here ever prints a credential: messages are built
 * from KartErrors whose authors keep secrets out of them, and unknown errors print only their message.
 */
export function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}

export function printLine(text = ''): void {
  process.stdout.write(`${text}\n`);
}

export function printError(error: unknown, json: boolean): number {
  const kartError = isKartError(error)
    ? error
    : new KartError('INTERNAL', error instanceof Error ? error.message : String(error), {
        hint: 'this is a bug in kart; please report it with the command you ran',
        exitCode: 2,
      });
  if (json) {
    printJson({ error: kartError.toJSON() });
  } else {
    process.stderr.write(`kart: error: ${kartError.message}\n`);
    if (kartError.hint) process.stderr.write(`kart: hint: ${kartError.hint}\n`);
    if (!isKartError(error) && process.env.KART_DEBUG && error instanceof Error) {
      process.stderr.write(`${error.stack ?? ''}\n`);
    }
  }
  return kartError.exitCode;
}

/**
 * Wraps a command's action: runs it, and on failure prints the error and sets the exit status.
 * The action returns its own exit status (0, or 1 when a check found problems).
 */
export function action<A extends unknown[]>(
  run: (...args: A) => Promise<number | void>,
): (...args: A) => Promise<void> {
  return async (...args: A) => {
    const opts = args.find(
      // The options object, not a variadic argument's array (which comes first).
      (a): a is { json?: boolean; format?: string } =>
        typeof a === 'object' && a !== null && !Array.isArray(a),
    );
    const json = opts?.json === true || opts?.format === 'json';
    try {
      const code = await run(...args);
      process.exitCode = code ?? 0;
    } catch (error) {
      process.exitCode = printError(error, json);
    }
  };
}

/** Collects a repeatable option (`--tag a --tag b`) into an array. */
export function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}
