import type { CheckReport } from '../types.ts';

/** The report as JSON (its shape is CheckReport, part of the public API). */
export function renderCheckJson(report: CheckReport): string {
  return `${JSON.stringify(report, null, 2)}\n`;
}
