import type { Command } from 'commander';
import type { TransferEvent } from '../oci/transfer-observer.ts';

/**
 * The CLI's live transfer display, built on the library's onTransfer events: while bytes move, one
 * line per blob in flight (bytes, rate, ETA) and a total line, redrawn in place at most every
 * `intervalMs`; a finished blob leaves one permanent line. It draws only on a terminal: on a pipe or a
 * file (CI logs, scripts) it writes nothing, so stderr carries only messages and errors there.
 */
export interface DisplaySink {
  isTTY?: boolean;
  write(text: string): unknown;
}

export interface TransferDisplay {
  onTransfer(event: TransferEvent): void;
  /** A message line: above the live lines on a terminal, as a plain line elsewhere (publish's steps). */
  log(message: string): void;
  /** Clears the live lines and writes the closing total; call once when the operation ended. */
  finish(): void;
}

interface Flight {
  digest: string;
  size: number;
  transferred: number;
  started: number;
}

export function transferDisplay(
  sink: DisplaySink,
  options: { now?: () => number; intervalMs?: number } = {},
): TransferDisplay {
  const now = options.now ?? Date.now;
  const intervalMs = options.intervalMs ?? 200;
  const enabled = sink.isTTY === true;
  const flights = new Map<string, Flight>();
  const settled: string[] = [];
  let began: number | undefined;
  let doneBytes = 0;
  let doneBlobs = 0;
  let existing = 0;
  let drawnLines = 0;
  let lastDraw = -Infinity;

  const totals = () => {
    let size = doneBytes;
    let moved = doneBytes;
    for (const flight of flights.values()) {
      size += flight.size;
      moved += flight.transferred;
    }
    return { size, moved };
  };

  const draw = (force: boolean): void => {
    if (!enabled) return;
    const at = now();
    if (!force && at - lastDraw < intervalMs) return;
    lastDraw = at;
    let out = drawnLines > 0 ? `\x1b[${drawnLines}A` : '';
    for (const line of settled.splice(0)) out += `\x1b[2K${line}\n`;
    const live: string[] = [];
    for (const flight of flights.values()) {
      const seconds = (at - flight.started) / 1000;
      live.push(
        `  ${short(flight.digest)}  ${formatBytes(flight.transferred)} / ${formatBytes(flight.size)}  ${rateAndEta(flight.transferred, flight.size, seconds)}`,
      );
    }
    if (began !== undefined) {
      const { size, moved } = totals();
      live.push(
        `  total   ${formatBytes(moved)} / ${formatBytes(size)}  ${rateAndEta(moved, size, (at - began) / 1000)}`,
      );
    }
    for (const line of live) out += `\x1b[2K${line}\n`;
    out += '\x1b[J';
    drawnLines = live.length;
    sink.write(out);
  };

  return {
    onTransfer(event) {
      const { desc } = event;
      if (event.phase === 'skipped') {
        existing++;
        return;
      }
      if (event.phase === 'start') {
        began ??= now();
        flights.set(desc.digest, { digest: desc.digest, size: desc.size, transferred: 0, started: now() });
        draw(true);
        return;
      }
      const flight = flights.get(desc.digest);
      if (flight === undefined) return;
      flight.transferred = event.transferred;
      if (event.phase === 'done') {
        flights.delete(desc.digest);
        doneBytes += desc.size;
        doneBlobs++;
        settled.push(`  done    ${short(desc.digest)}  ${formatBytes(desc.size)}`);
        draw(true);
        return;
      }
      draw(false);
    },
    log(message) {
      if (!enabled) {
        sink.write(`${message}\n`);
        return;
      }
      settled.push(message);
      draw(true);
    },
    finish() {
      if (!enabled) return;
      flights.clear();
      began ??= now();
      const seconds = Math.max((now() - began) / 1000, 0.001);
      settled.push(
        `  total   ${doneBlobs} copied (${formatBytes(doneBytes)}), ${existing} already there, in ${seconds.toFixed(1)} s (${formatBytes(doneBytes / seconds)}/s)`,
      );
      began = undefined;
      draw(true);
    },
  };
}

function rateAndEta(moved: number, size: number, seconds: number): string {
  if (seconds <= 0 || moved === 0) return '';
  const rate = moved / seconds;
  const eta = Math.max(size - moved, 0) / rate;
  return `${formatBytes(rate)}/s  ETA ${formatDuration(eta)}`;
}

function formatDuration(seconds: number): string {
  const s = Math.ceil(seconds);
  return s < 60 ? `${s}s` : `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
}

function short(digest: string): string {
  return digest.slice(0, 19);
}

export function formatBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = n;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${unit === 0 ? Math.round(value) : value.toFixed(1)} ${units[unit]}`;
}

export interface QuietOption {
  quiet?: boolean;
  json?: boolean;
}

/** `--quiet` on every command that moves bytes. */
export function addQuietOption<C extends Command>(command: C): C {
  return command.option('-q, --quiet', 'no progress display (it appears only on a terminal anyway)');
}

/** The display a command uses: none with --quiet or --json (results stay alone on their stream). */
export function displayFor(options: QuietOption): TransferDisplay | undefined {
  if (options.quiet === true || options.json === true) return undefined;
  return transferDisplay(process.stderr);
}
