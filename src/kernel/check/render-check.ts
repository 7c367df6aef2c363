import {
  renderCheckGithub,
  renderCheckJunitReports,
  renderCheckText,
  type CheckReport,
} from '../flavor/index.ts';
import { escapeData, escapeProperty } from '../flavor/render/github.ts';
import { xml } from '../flavor/render/junit.ts';
import type { AuditReport } from './audit-repository.ts';
import type { PlatformCheck, ReferenceCheck, UncheckedPlatform } from './check-reference.ts';

/**
 * Reports of `kart check REF` (one CheckReport per platform, plus the metadata's word on the config)
 * and `kart audit` (a table), in the formats `kart check` writes. JSON is the result objects as they are.
 */
export type CheckFormat = 'text' | 'json' | 'github' | 'junit';

function lie(platform: PlatformCheck): string {
  const says =
    platform.claimFrom === 'annotation'
      ? 'its manifest annotation dev.edera.kernel.config says'
      : 'kernel/metadata says KERNEL_CONFIG=';
  return `${says}${platform.claimFrom === 'annotation' ? ' ' : ''}${platform.metadataConfigDigest}, but the config read (${platform.configFrom}) is ${platform.configDigest}: the image lies about its config`;
}

function notChecked(platform: UncheckedPlatform): string {
  return `not checked (${platform.code}): ${platform.message}`;
}

function heading(check: ReferenceCheck, platform: PlatformCheck): string {
  return `${check.reference}@${check.digest} ${platform.platform}: manifest ${platform.manifest.digest}, config from ${platform.configFrom} (layer ${platform.configLayer}), ${platform.configDigest}`;
}

export function renderReferenceCheck(check: ReferenceCheck, format: CheckFormat): string {
  if (format === 'json') return `${JSON.stringify(check, null, 2)}\n`;
  if (format === 'junit') {
    const document = renderCheckJunitReports(check.platforms.map((platform) => platform.report));
    const lies = [
      ...check.platforms.filter((platform) => !platform.metadataMatches).map(junitLie),
      ...check.unchecked.map((platform) =>
        [
          `  <testsuite name="${xml(`${check.reference}@${check.digest} ${platform.platform}`)}" tests="1" failures="1">`,
          `    <testcase classname="platform" name="${xml(platform.manifest)}"><failure message="${xml(notChecked(platform))}" type="${xml(platform.code)}"/></testcase>`,
          '  </testsuite>',
        ].join('\n'),
      ),
    ];
    return lies.length === 0
      ? document
      : document.replace(/<\/testsuites>\n$/, `${lies.join('\n')}\n</testsuites>\n`);
  }
  const parts: string[] = [];
  for (const platform of check.platforms) {
    if (format === 'github') {
      if (!platform.metadataMatches) {
        parts.push(
          `::error title=${escapeProperty(`${check.reference}@${check.digest} ${platform.platform}: KERNEL_CONFIG`)}::${escapeData(lie(platform))}\n`,
        );
      }
      parts.push(renderCheckGithub(platform.report));
    } else {
      parts.push(`${heading(check, platform)}\n`);
      if (!platform.metadataMatches) parts.push(`  FAIL ${lie(platform)}\n`);
      parts.push(renderCheckText(platform.report));
    }
  }
  for (const platform of check.unchecked) {
    parts.push(
      format === 'github'
        ? `::error title=${escapeProperty(`${check.reference}@${check.digest} ${platform.platform}`)}::${escapeData(notChecked(platform))}\n`
        : `${check.reference}@${check.digest} ${platform.platform}: manifest ${platform.manifest}\n  FAIL ${notChecked(platform)}\n`,
    );
  }
  if (format === 'text') {
    for (const entry of check.skipped) {
      parts.push(`${check.reference}@${check.digest}: skipped ${entry.manifest} (${entry.reason})\n`);
    }
  }
  const failed = check.platforms.filter((platform) => !platform.ok).length + check.unchecked.length;
  const total = check.platforms.length + check.unchecked.length;
  parts.push(
    `${failed === 0 ? 'OK' : 'FAILED'}: ${check.reference}@${check.digest}: ${failed} of ${total} platform${total === 1 ? '' : 's'} failed\n`,
  );
  return parts.join('');
}

function junitLie(platform: PlatformCheck): string {
  const subject = platform.report.subject;
  const name =
    subject?.kind === 'reference'
      ? `metadata (${subject.reference}@${subject.digest} ${subject.platform})`
      : 'metadata';
  return [
    `  <testsuite name="${xml(name)}" tests="1" failures="1">`,
    `    <testcase classname="metadata" name="KERNEL_CONFIG = ${xml(platform.configDigest)}">`,
    `      <failure message="${xml(lie(platform))}" type="metadata">${xml(`actual: ${platform.metadataConfigDigest ?? ''}`)}</failure>`,
    '    </testcase>',
    '  </testsuite>',
  ].join('\n');
}

/** The report of a kernel image's embedded config: what the image is, then the usual report. */
export function renderImageCheck(report: CheckReport, format: CheckFormat): string {
  if (format === 'json') return `${JSON.stringify(report, null, 2)}\n`;
  if (format === 'github') return renderCheckGithub(report);
  if (format === 'junit') return renderCheckJunitReports([report]);
  const subject = report.subject;
  const head =
    subject?.kind === 'image'
      ? `${subject.path}: ${subject.format}, ${subject.banner}; embedded config ${subject.configDigest}\n`
      : '';
  return head + renderCheckText(report);
}

export function renderAudit(audit: AuditReport, format: CheckFormat): string {
  if (format === 'json') return `${JSON.stringify(audit, null, 2)}\n`;
  if (format === 'junit') {
    const reports = audit.checks.flatMap(
      (entry) => entry.check?.platforms.map((platform) => platform.report) ?? [],
    );
    const errors = audit.rows
      .filter((row) => row.result !== 'ok' && row.result !== 'failed')
      .map((row) =>
        [
          `  <testsuite name="${xml(`${row.repository}:${row.tag} ${row.platform}`.trim())}" tests="1" failures="1">`,
          `    <testcase classname="audit" name="${xml(row.tag)}"><failure message="${xml(row.failures.join('; '))}" type="${row.result}"/></testcase>`,
          '  </testsuite>',
        ].join('\n'),
      );
    const document = renderCheckJunitReports(reports);
    return errors.length === 0
      ? document
      : document.replace(/<\/testsuites>\n$/, `${errors.join('\n')}\n</testsuites>\n`);
  }
  if (format === 'github') {
    const lines = audit.rows
      .filter((row) => row.result !== 'ok')
      .map(
        (row) =>
          `::error title=${escapeProperty(`${row.repository}:${row.tag} ${row.platform}`.trim())}::${escapeData(`${row.result}${row.digest === undefined ? '' : ` (${row.digest})`}: ${row.failures.join('; ')}`)}`,
      );
    return `${[...lines, summary(audit)].join('\n')}\n`;
  }
  const header = ['TAG', 'PLATFORM', 'DIGEST', 'RESULT', 'FAILURES'];
  const many = audit.repositories.length > 1;
  const table = audit.rows.map((row) => [
    many ? `${row.repository}:${row.tag}` : row.tag,
    row.platform || '-',
    row.digest ?? '-',
    row.result,
    row.failures.join(', '),
  ]);
  const widths = header.map((title, i) =>
    Math.max(title.length, ...table.map((cells) => (cells[i] ?? '').length)),
  );
  const line = (cells: string[]): string =>
    cells
      .map((cell, i) => (i === cells.length - 1 ? cell : cell.padEnd(widths[i] ?? 0)))
      .join('  ')
      .trimEnd();
  return `${[line(header), ...table.map(line), summary(audit)].join('\n')}\n`;
}

function summary(audit: AuditReport): string {
  const { tags, digests, rows, failed } = audit.summary;
  return `${audit.ok ? 'OK' : 'FAILED'}: ${tags} tag${tags === 1 ? '' : 's'} (${digests} distinct), ${rows} checked, ${failed} failed; ${audit.repositories.join(', ')}`;
}
