import type { CheckReport } from '../types.ts';
import { summaryLine } from './summary-line.ts';

/** The readable report: one block per flavor (its failures, then its warnings), the verdict last. */
export function renderCheckText(report: CheckReport): string {
  const lines: string[] = [];
  for (const warning of report.configWarnings) lines.push(`config warning: ${warning}`);
  for (const result of report.flavors) {
    const total = result.requirements.length;
    const warnings =
      result.warnings.length === 0
        ? ''
        : `, ${result.warnings.length} warning${result.warnings.length === 1 ? '' : 's'}`;
    lines.push(
      result.ok
        ? `${result.flavor} (${result.file}): all ${total} required met${warnings}`
        : `${result.flavor} (${result.file}): ${result.failures.length} of ${total} required not met${warnings}`,
    );
    for (const failure of result.failures) lines.push(`  FAIL ${failure.message}`);
    for (const warning of result.warnings) lines.push(`  WARN ${warning.message}`);
  }
  lines.push(summaryLine(report));
  return `${lines.join('\n')}\n`;
}
