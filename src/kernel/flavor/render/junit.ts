import type { CheckReport } from '../types.ts';

/**
 * JUnit XML: one testsuite per flavor, one testcase per `[require]` rule (failed ones carry a
 * <failure>); unmet recommendations go to the suite's <system-out>, since they are not failures.
 */

function xml(text: string): string {
  return text
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&apos;');
}

export function renderCheckJunit(report: CheckReport): string {
  const { summary } = report;
  const out: string[] = [
    '<?xml version="1.0" encoding="UTF-8"?>',
    `<testsuites name="kart check" tests="${summary.requirements}" failures="${summary.failures}">`,
  ];
  for (const result of report.flavors) {
    out.push(
      `  <testsuite name="${xml(result.flavor)}" tests="${result.requirements.length}" failures="${result.failures.length}" file="${xml(result.file)}">`,
    );
    for (const requirement of result.requirements) {
      const open = `    <testcase classname="${xml(result.flavor)}" name="${xml(`${requirement.symbol} = ${requirement.rule}`)}" file="${xml(requirement.flavorFile)}" line="${requirement.flavorLine}"`;
      if (requirement.ok) {
        out.push(`${open}/>`);
      } else {
        out.push(`${open}>`);
        out.push(
          `      <failure message="${xml(requirement.message)}" type="requirement">${xml(`actual: ${requirement.actual}`)}</failure>`,
        );
        out.push('    </testcase>');
      }
    }
    if (result.warnings.length > 0) {
      out.push(
        `    <system-out>${xml(result.warnings.map((w) => `WARN ${w.message}`).join('\n'))}</system-out>`,
      );
    }
    out.push('  </testsuite>');
  }
  out.push('</testsuites>');
  return `${out.join('\n')}\n`;
}
