/**
 * Running one timed command: wall time around the process (spawn included, the same for kart and its
 * peers), its CPU time (user + system of the command and its children, GNU time's %U + %S) and its peak
 * RSS from GNU time's %M (the kernel's ru_maxrss of the child) and its minor page faults (%R).
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface Timed {
  seconds: number;
  /** user + system CPU seconds of the command and the children it waited for */
  cpuSeconds: number;
  /** peak resident set size of the command (KiB) */
  rssKb: number;
  /** minor page faults of the command (GNU time's %R): fresh memory touched, a per-byte cost */
  minorFaults: number;
}

const GNU_TIME = '/usr/bin/time';

export interface RunOptions {
  env?: NodeJS.ProcessEnv;
  /** exit codes that count as success (kart check exits 1 when a requirement fails) */
  okCodes?: number[];
  /** kill the command after this long (ms); default 90 s */
  timeoutMs?: number;
}

export function runTimed(command: string, args: string[], options: RunOptions = {}): Timed {
  const scratch = mkdtempSync(join(tmpdir(), 'kart-bench-time-'));
  const rssFile = join(scratch, 'rss');
  try {
    const started = performance.now();
    const result = spawnSync(GNU_TIME, ['-f', '%M %U %S %R', '-o', rssFile, command, ...args], {
      env: options.env ?? process.env,
      encoding: 'utf8',
      maxBuffer: 64 * 1024 * 1024,
      // A peer stuck on a dead connection (seen: skopeo after the registry's EOF) fails the run.
      timeout: options.timeoutMs ?? 90_000,
    });
    const seconds = (performance.now() - started) / 1000;
    const ok = options.okCodes ?? [0];
    if (result.error) throw result.error;
    if (!ok.includes(result.status ?? -1)) {
      throw new Error(
        `bench: ${command} ${args.join(' ')} exited ${result.status}:\n${result.stderr.slice(-2000)}${result.stdout.slice(-1000)}`,
      );
    }
    // GNU time appends its line after anything else it wrote there (a "Command exited" note).
    const [rss, user, system, faults] = readFileSync(rssFile, 'utf8')
      .trim()
      .split('\n')
      .pop()!
      .split(' ')
      .map(Number);
    return { seconds, cpuSeconds: user! + system!, rssKb: rss!, minorFaults: faults! };
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
}

export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}
