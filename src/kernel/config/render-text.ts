import type { ConfigEntry, ConfigWarning, KernelConfig } from './types.ts';
import type { ConfigDiff } from './diff.ts';
import type { ConfigSplit } from './split.ts';
import type { ConfigMerge, ConfigOrigin } from './merge.ts';
import type { FragmentVerification, LostValue } from './verify-fragments.ts';
import { formatConfigLine, formatConfigValue } from './format.ts';
import { displaySource } from './errors.ts';
import { serializeKernelConfig } from './serialize.ts';

/**
 * The text reports of `kart config`: one line per finding, the file:line it stands on, a summary line
 * last. Every report ends with a newline.
 */
const at = (o: ConfigOrigin) => `${displaySource(o.source)}:${o.line}`;
const entryAt = (config: KernelConfig, e: ConfigEntry) => at({ source: config.source, line: e.line });
const plural = (n: number, one: string, many = `${one}s`) => `${n} ${n === 1 ? one : many}`;

export function renderDiffText(before: KernelConfig, after: KernelConfig, diff: ConfigDiff): string {
  const lines: string[] = [];
  for (const e of diff.removed) lines.push(`- ${formatConfigLine(e.name, e.value)}  (${entryAt(before, e)})`);
  for (const e of diff.added) lines.push(`+ ${formatConfigLine(e.name, e.value)}  (${entryAt(after, e)})`);
  for (const c of diff.changed) {
    lines.push(
      `~ ${c.name}: ${formatConfigValue(c.before.value)} -> ${formatConfigValue(c.after.value)}  (${entryAt(before, c.before)}, ${entryAt(after, c.after)})`,
    );
  }
  const total = diff.added.length + diff.removed.length + diff.changed.length;
  lines.push(
    total === 0
      ? `no differences between ${displaySource(before.source)} and ${displaySource(after.source)}`
      : `${plural(total, 'difference')}: ${diff.removed.length} removed, ${diff.added.length} added, ${diff.changed.length} changed`,
  );
  return `${lines.join('\n')}\n`;
}

/** The split as sections, each headed by a comment line, so the whole output is still a valid .config. */
export function renderSplitText(split: ConfigSplit): string {
  const section = (title: string, config: KernelConfig) =>
    `# ${title} (${plural([...config.entries()].length, 'symbol')})\n${serializeKernelConfig(config)}`;
  return [
    section('common', split.common),
    ...split.parts.map((p) => section(displaySource(p.source), p.config)),
  ].join('');
}

export function renderMergeText(merge: ConfigMerge, fragmentCount: number): string {
  const lines = merge.overrides.map(
    (o) =>
      `${o.name}: ${formatConfigValue(o.from)} (${o.overridden.map(at).join(', ')}) overridden by ${formatConfigValue(o.to)} (${at(o.by)})`,
  );
  lines.push(
    `merged ${plural(fragmentCount, 'fragment')}: ${plural(merge.overrides.length, 'override')}, ${merge.redundant.length} redundant`,
  );
  return `${lines.join('\n')}\n`;
}

function describeActual(final: KernelConfig, lost: LostValue): string {
  if (lost.actual === undefined) return `absent from ${displaySource(final.source)}`;
  const value = lost.actual.value.kind === 'unset' ? 'not set' : formatConfigValue(lost.actual.value);
  return `${value} (${entryAt(final, lost.actual)})`;
}

function describeLost(final: KernelConfig, lost: LostValue): string {
  return `${lost.name}: requested ${formatConfigValue(lost.requested.value)} (${at(lost.requested)}), final ${describeActual(final, lost)}`;
}

export function renderVerifyText(
  final: KernelConfig,
  result: FragmentVerification,
  allowSource?: string,
): string {
  const lines = result.lost.map((l) => describeLost(final, l));
  for (const l of result.allowed) lines.push(`allowed: ${describeLost(final, l)}`);
  for (const u of result.unusedAllowed) {
    lines.push(`unused allow-list entry: ${u.name} (${at({ source: allowSource ?? '', line: u.line })})`);
  }
  const allowed = result.allowed.length > 0 ? ` (${result.allowed.length} more allowed)` : '';
  lines.push(
    result.lost.length === 0
      ? `all ${plural(result.checked, 'requested value')} survived${allowed}`
      : `${result.lost.length} of ${plural(result.checked, 'requested value')} did not survive${allowed}`,
  );
  return `${lines.join('\n')}\n`;
}

export function renderWarningsText(warnings: readonly ConfigWarning[]): string {
  return warnings.map((w) => `kart: warning: ${w.message}\n`).join('');
}
