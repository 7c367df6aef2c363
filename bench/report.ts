/**
 * The bench's table: per figure, kart's median, each peer's, the ratio kart/peer, and whether each
 * target was met.
 */
import { median, type Timed } from './measure.ts';

export type Target =
  | { peer: string; maxRatio: number }
  | { peer: string; minThroughputRatio: number }
  | { maxSeconds: number }
  | { maxRssMb: number }
  /** blob bytes kart verified per byte the pull moved (KART_COUNT_HASHED_BYTES; 1: each byte once) */
  | { maxHashedPerByte: number };

export interface Figure {
  id: string;
  title: string;
  unit: 's';
  /** for throughput figures: bytes processed per run */
  bytes?: number;
  /** for transfer figures: the bytes each run moves, for CPU seconds per GiB */
  movedBytes?: number;
  samples: Record<string, Timed[]>;
  targets: Target[];
  /** from one extra, untimed run: bytes kart verified against their digests per byte moved */
  hashedPerByte?: number;
  /** from the same run: bytes hashed to record installed files' digests (kart.json) per byte moved */
  contentHashedPerByte?: number;
}

export interface Result extends Figure {
  medians: Record<string, { seconds: number; cpuSeconds: number; rssMb: number; minorFaults: number }>;
  /** kart's median time over each peer's (below 1: kart is faster), for every peer, target or not */
  ratios?: Record<string, number>;
  /**
   * The median of the per-round ratios kart/peer. Rounds are interleaved, so a round's pair shared the
   * machine's state; this ratio is less moved by drift than the ratio of medians.
   */
  pairedRatios?: Record<string, number>;
}

export function summarize(figure: Figure): Result {
  const medians = Object.fromEntries(
    Object.entries(figure.samples).map(([name, timed]) => [
      name,
      {
        seconds: median(timed.map((t) => t.seconds)),
        cpuSeconds: median(timed.map((t) => t.cpuSeconds)),
        rssMb: median(timed.map((t) => t.rssKb)) / 1024,
        minorFaults: median(timed.map((t) => t.minorFaults)),
      },
    ]),
  );
  return { ...figure, medians, ratios: ratiosToPeers(medians), pairedRatios: pairedRatios(figure.samples) };
}

export function ratiosToPeers(medians: Result['medians']): Record<string, number> {
  const kart = medians.kart;
  if (kart === undefined) return {};
  return Object.fromEntries(
    Object.entries(medians)
      .filter(([name]) => name !== 'kart')
      .map(([name, peer]) => [name, Number((kart.seconds / peer.seconds).toFixed(3))]),
  );
}

export function pairedRatios(samples: Figure['samples']): Record<string, number> {
  const kart = samples.kart;
  if (kart === undefined) return {};
  return Object.fromEntries(
    Object.entries(samples)
      .filter(([name]) => name !== 'kart')
      .map(([name, peer]) => {
        const rounds = Math.min(kart.length, peer.length);
        const ratios = Array.from({ length: rounds }, (_, i) => kart[i]!.seconds / peer[i]!.seconds);
        return [name, Number(median(ratios).toFixed(3))];
      }),
  );
}

export interface Verdict {
  figure: string;
  target: string;
  value: string;
  met: boolean;
}

export function renderTable(results: Result[]): { text: string; verdicts: Verdict[] } {
  const rows: string[][] = [
    [
      'figure',
      'tool',
      'median s',
      'CPU s',
      'CPU s/GiB',
      'minor faults',
      'peak RSS MB',
      'kart/tool',
      'paired',
      'MB/s',
    ],
  ];
  const verdicts: Verdict[] = [];
  for (const result of results) {
    const kart = result.medians.kart;
    if (kart === undefined) continue;
    for (const [name, median] of Object.entries(result.medians)) {
      rows.push([
        name === 'kart' ? result.title : '',
        name,
        median.seconds.toFixed(3),
        median.cpuSeconds.toFixed(2),
        result.movedBytes ? (median.cpuSeconds / (result.movedBytes / 1024 ** 3)).toFixed(2) : '',
        String(median.minorFaults),
        median.rssMb.toFixed(0),
        name === 'kart' ? '' : (kart.seconds / median.seconds).toFixed(2),
        name === 'kart' ? '' : (result.pairedRatios?.[name]?.toFixed(2) ?? ''),
        result.bytes ? (result.bytes / 1e6 / median.seconds).toFixed(0) : '',
      ]);
    }
    for (const target of result.targets) {
      if ('maxRatio' in target) {
        const peer = result.medians[target.peer];
        if (!peer) continue;
        const ratio = kart.seconds / peer.seconds;
        verdicts.push({
          figure: result.id,
          target: `time ≤ ${target.maxRatio}× ${target.peer}`,
          value: `${ratio.toFixed(2)}×`,
          met: ratio <= target.maxRatio,
        });
      } else if ('minThroughputRatio' in target) {
        const peer = result.medians[target.peer];
        if (!peer) continue;
        const ratio = peer.seconds / kart.seconds;
        verdicts.push({
          figure: result.id,
          target: `throughput ≥ ${target.minThroughputRatio * 100}% of ${target.peer}`,
          value: `${(ratio * 100).toFixed(0)}%`,
          met: ratio >= target.minThroughputRatio,
        });
      } else if ('maxSeconds' in target) {
        verdicts.push({
          figure: result.id,
          target: `< ${target.maxSeconds} s`,
          value: `${kart.seconds.toFixed(3)} s`,
          met: kart.seconds < target.maxSeconds,
        });
      } else if ('maxHashedPerByte' in target) {
        if (result.hashedPerByte === undefined) continue;
        verdicts.push({
          figure: result.id,
          target: `blob bytes hashed per byte moved ≤ ${target.maxHashedPerByte}`,
          value: `${result.hashedPerByte.toFixed(2)}${result.contentHashedPerByte === undefined ? '' : ` (+ ${result.contentHashedPerByte.toFixed(2)} for installed files' digests)`}`,
          met: result.hashedPerByte <= target.maxHashedPerByte,
        });
      } else {
        verdicts.push({
          figure: result.id,
          target: `peak RSS < ${target.maxRssMb} MB`,
          value: `${kart.rssMb.toFixed(0)} MB`,
          met: kart.rssMb < target.maxRssMb,
        });
      }
    }
  }
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((row) => row[i]!.length)));
  const line = (row: string[]) =>
    row.map((cell, i) => (i >= 2 ? cell.padStart(widths[i]!) : cell.padEnd(widths[i]!))).join('  ');
  const text = [
    line(rows[0]!),
    ...rows.slice(1).map(line),
    '',
    'targets:',
    ...verdicts.map((v) => `  ${v.met ? 'met   ' : 'MISSED'}  ${v.figure}: ${v.target}: ${v.value}`),
  ].join('\n');
  return { text, verdicts };
}
