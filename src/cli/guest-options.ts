import { KartError } from '../errors.ts';

/** A whole-number flag (`--data-blocks 1026`), else OPTION_INVALID naming the flag (exit 2). */
export function parseWholeNumber(flag: string, text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  if (!/^[0-9]+$/.test(text) || !Number.isSafeInteger(Number(text))) {
    throw new KartError('OPTION_INVALID', `${flag} ${text}: not a whole number`, {
      hint: `pass e.g. ${flag} 4096`,
    });
  }
  return Number(text);
}
