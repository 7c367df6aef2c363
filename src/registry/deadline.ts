import { KartError } from '../errors.ts';

/**
 * The overall deadline of one operation (a pull, a push, a publish): every request it makes, every
 * body it reads and every retry wait must end by then, so a registry that trickles a byte every few
 * seconds, answers Retry-After: 3600 or never answers at all cannot hold kart forever.
 *
 * With `--timeout` the deadline is fixed. Without it, it is generous but finite: a floor, plus time
 * for every byte the operation's requests announce (a blob's descriptor size) at a slow minimum rate,
 * so a large kernel on a slow line still fits while an endless trickle does not.
 */
export interface DeadlineOptions {
  /** a fixed overall limit (ms), what --timeout sets */
  timeoutMs?: number;
  /** the floor of the default limit (ms) */
  floorMs?: number;
  /** the slowest transfer rate the default limit allows for announced bytes (bytes per second) */
  minBytesPerSecond?: number;
  now?: () => number;
}

export const DEFAULT_DEADLINE_FLOOR_MS = 10 * 60_000;
export const DEFAULT_MIN_BYTES_PER_SECOND = 32 * 1024;

export class OperationDeadline {
  readonly #start: number;
  readonly #fixedMs: number | undefined;
  readonly #floorMs: number;
  readonly #bytesPerSecond: number;
  readonly #now: () => number;
  #announced = 0;

  constructor(options: DeadlineOptions = {}) {
    this.#now = options.now ?? Date.now;
    this.#start = this.#now();
    this.#fixedMs = options.timeoutMs;
    this.#floorMs = options.floorMs ?? DEFAULT_DEADLINE_FLOOR_MS;
    this.#bytesPerSecond = options.minBytesPerSecond ?? DEFAULT_MIN_BYTES_PER_SECOND;
  }

  /** Bytes the operation is about to move: without --timeout, they extend the deadline. */
  announce(bytes: number): void {
    if (Number.isFinite(bytes) && bytes > 0) this.#announced += bytes;
  }

  /** The whole budget so far (ms). */
  get budgetMs(): number {
    if (this.#fixedMs !== undefined) return this.#fixedMs;
    return this.#floorMs + Math.ceil((this.#announced / this.#bytesPerSecond) * 1000);
  }

  remainingMs(): number {
    return this.#start + this.budgetMs - this.#now();
  }

  /** The error an operation past its deadline ends with (exit 3). */
  expired(what: string, detail = 'did not finish'): KartError {
    const seconds = Math.round(this.budgetMs / 100) / 10;
    return new KartError('OPERATION_TIMEOUT', `${what}: ${detail} within the ${seconds} s deadline`, {
      exitCode: 3,
      hint:
        this.#fixedMs === undefined
          ? 'the registry is too slow or not answering; retry later, or allow more time with --timeout SECONDS'
          : 'the registry is too slow or not answering; retry later, or allow more time with a larger --timeout',
      details: { timeoutMs: this.budgetMs },
    });
  }
}
