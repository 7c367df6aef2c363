/**
 * Every failure kart reports is a KartError: a stable `code` that callers branch on (never the text),
 * a message that says what went wrong and where, and a hint that says what to do about it.
 * The CLI turns `exitCode` into the process exit status:
 *   1 = a check failed (requirements not met, verification failed)
 *   2 = usage or input error (bad argument, unreadable or malformed file)
 *   3 = registry or network error
 */
import type { KartErrorCode } from './error-codes.ts';

export type ExitCode = 1 | 2 | 3;
export type { KartErrorCode };

export interface KartErrorOptions {
  hint?: string;
  exitCode?: ExitCode;
  cause?: unknown;
  /** Structured facts for --json output (never secrets). */
  details?: Record<string, unknown>;
  /**
   * The failure may not happen again (a dropped connection, a stall, a rate limit, a registry 5xx):
   * an operation that can start over from its source (copy re-fetching a blob) may try once more.
   */
  transient?: boolean;
}

export class KartError extends Error {
  override readonly name = 'KartError';
  /** Stable, SCREAMING_SNAKE_CASE; part of the public API (the README's table lists every one). */
  readonly code: KartErrorCode;
  readonly hint: string | undefined;
  readonly exitCode: ExitCode;
  readonly details: Record<string, unknown> | undefined;
  readonly transient: boolean;

  constructor(code: KartErrorCode, message: string, options: KartErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.hint = options.hint;
    this.exitCode = options.exitCode ?? 2;
    this.details = options.details;
    this.transient = options.transient ?? false;
  }

  toJSON(): Record<string, unknown> {
    return {
      code: this.code,
      message: this.message,
      ...(this.hint === undefined ? {} : { hint: this.hint }),
      ...(this.details === undefined ? {} : { details: this.details }),
    };
  }
}

/** Whether `value` is a KartError (with `code`, one of those codes): `isKartError(e, 'NOT_FOUND')`. */
export function isKartError(value: unknown, ...codes: KartErrorCode[]): value is KartError {
  return value instanceof KartError && (codes.length === 0 || codes.includes(value.code));
}
