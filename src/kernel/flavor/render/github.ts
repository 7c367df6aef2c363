import type { CheckReport, RequirementResult } from '../types.ts';
import { summaryLine } from './summary-line.ts';

/**
 * GitHub Actions workflow commands: `::error` per failure and `::warning` per unmet recommendation,
 * pointing at the .config line that holds the wrong value, or at the flavor line that asked for the
 * symbol when the config has no line for it (absent, or read from stdin). The verdict is the last line.
 */

// https://docs.github.com/actions/reference/workflow-commands-for-github-actions: data escapes % CR LF;
// property values also escape : and ,
export function escapeData(text: string): string {
  return text.replace(/%/g, '%25').replace(/\r/g, '%0D').replace(/\n/g, '%0A');
}

export function escapeProperty(text: string): string {
  return escapeData(text).replace(/:/g, '%3A').replace(/,/g, '%2C');
}

function annotation(
  kind: 'error' | 'warning',
  flavor: string,
  report: CheckReport,
  result: RequirementResult,
): string {
  // A config read from an image or a registry has no file in the repository to point at.
  const [file, line] =
    result.configLine !== undefined && report.config !== '-' && report.subject === undefined
      ? [report.config, result.configLine]
      : [result.flavorFile, result.flavorLine];
  const title = `${subjectName(report)}${flavor}: ${result.symbol}`;
  return `::${kind} file=${escapeProperty(file)},line=${line},title=${escapeProperty(title)}::${escapeData(result.message)}`;
}

/** `REF@DIGEST linux/amd64: ` or `vmlinuz: ` before the flavor in a title. */
function subjectName(report: CheckReport): string {
  const subject = report.subject;
  if (subject === undefined) return '';
  return subject.kind === 'reference'
    ? `${subject.reference}@${subject.digest} ${subject.platform}: `
    : `${subject.path}: `;
}

export function renderCheckGithub(report: CheckReport): string {
  const lines: string[] = [];
  for (const result of report.flavors) {
    for (const failure of result.failures) lines.push(annotation('error', result.flavor, report, failure));
    for (const warning of result.warnings) lines.push(annotation('warning', result.flavor, report, warning));
  }
  lines.push(summaryLine(report));
  return `${lines.join('\n')}\n`;
}
