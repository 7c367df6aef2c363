import type { CheckReport } from '../types.ts';

/**
 * JUnit XML: one testsuite per flavor, one testcase per `[require]` rule (failed ones carry a
 * <failure>); unmet recommendations go to the suite's <system-out>, since they are not failures.
 */

export function xml(text: string): string {
  return text
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&apos;');
}

export function renderCheckJunit(report: CheckReport): string {
  return renderCheckJunitReports([report]);
}

/**
 * Several reports (one per platform of a reference, or per audited tag) as one document. A report
 * with a subject names it in its suites and carries it as properties (reference, digest, platform).
 */
export function renderCheckJunitReports(reports: readonly CheckReport[]): string {
  const total = (pick: (report: CheckReport) => number): number =>
    reports.reduce((sum, report) => sum + pick(report), 0);
  const out: string[] = [
    '<?xml version="1.0" encoding="UTF-8"?>',
    `<testsuites name="kart check" tests="${total((r) => r.summary.requirements)}" failures="${total((r) => r.summary.failures)}">`,
  ];
  for (const report of reports) out.push(...suites(report));
  out.push('</testsuites>');
  return `${out.join('\n')}\n`;
}

function subjectProperties(report: CheckReport): [string, string][] {
  const subject = report.subject;
  if (subject === undefined) return [];
  if (subject.kind === 'image') {
    return [
      ['image', subject.path],
      ['release', subject.release],
      ['config.digest', subject.configDigest],
    ];
  }
  return [
    ['reference', subject.reference],
    ['digest', subject.digest],
    ['platform', subject.platform],
    ['manifest', subject.manifest],
    ['config.from', subject.configFrom],
    ['config.digest', subject.configDigest],
  ];
}

function suiteName(report: CheckReport, flavor: string): string {
  const subject = report.subject;
  if (subject === undefined) return flavor;
  return subject.kind === 'reference'
    ? `${flavor} (${subject.reference}@${subject.digest} ${subject.platform})`
    : `${flavor} (${subject.path})`;
}

function suites(report: CheckReport): string[] {
  const out: string[] = [];
  const properties = subjectProperties(report);
  for (const result of report.flavors) {
    out.push(
      `  <testsuite name="${xml(suiteName(report, result.flavor))}" tests="${result.requirements.length}" failures="${result.failures.length}" file="${xml(result.file)}">`,
    );
    if (properties.length > 0) {
      out.push('    <properties>');
      for (const [name, value] of properties) {
        out.push(`      <property name="${xml(name)}" value="${xml(value)}"/>`);
      }
      out.push('    </properties>');
    }
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
  return out;
}
