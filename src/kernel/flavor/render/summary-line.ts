import { displayConfigSource } from '../display-path.ts';
import type { CheckReport } from '../types.ts';

/** The one-line verdict every format ends with. */
export function summaryLine(report: CheckReport): string {
  const { summary } = report;
  const plural = (n: number, word: string): string => `${n} ${word}${n === 1 ? '' : 's'}`;
  const warnings = plural(summary.warnings, 'warning');
  if (report.ok) {
    return `OK: all ${plural(summary.requirements, 'requirement')} met in ${plural(summary.flavors, 'flavor')} (${report.flavors.map((f) => f.flavor).join(', ')}); ${warnings}; config ${displayConfigSource(report.config)}`;
  }
  const failed = report.flavors.filter((f) => !f.ok);
  return `FAILED: ${summary.failures} of ${plural(summary.requirements, 'requirement')} not met in ${failed.length} of ${plural(summary.flavors, 'flavor')} (${failed.map((f) => f.flavor).join(', ')}); ${warnings}; config ${displayConfigSource(report.config)}`;
}
