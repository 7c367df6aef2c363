import type { ConfigEntry, ConfigValue, KernelConfig } from './types.ts';
import type { ConfigDiff } from './diff.ts';
import type { ConfigSplit } from './split.ts';
import type { ConfigMerge } from './merge.ts';
import type { FragmentVerification, LostValue } from './verify-fragments.ts';
import { formatConfigValue } from './format.ts';
import { serializeKernelConfig } from './serialize.ts';

/**
 * JSON shapes for `kart config --json`. A value is the text it has after `=` in a .config (`y`, `"str"`,
 * `0x10`, `is not set`): JSON has no bigint, and this is the form a user greps for.
 */
const value = (v: ConfigValue) => formatConfigValue(v);
const entry = (source: string, e: ConfigEntry) => ({
  name: e.name,
  value: value(e.value),
  source,
  line: e.line,
});

export function diffToJson(before: KernelConfig, after: KernelConfig, diff: ConfigDiff) {
  return {
    before: before.source,
    after: after.source,
    removed: diff.removed.map((e) => entry(before.source, e)),
    added: diff.added.map((e) => entry(after.source, e)),
    changed: diff.changed.map((c) => ({
      name: c.name,
      before: value(c.before.value),
      after: value(c.after.value),
      beforeLine: c.before.line,
      afterLine: c.after.line,
    })),
  };
}

export function splitToJson(split: ConfigSplit) {
  return {
    common: serializeKernelConfig(split.common),
    parts: split.parts.map((p) => ({ source: p.source, config: serializeKernelConfig(p.config) })),
  };
}

export function mergeToJson(merge: ConfigMerge) {
  return {
    overrides: merge.overrides.map((o) => ({ ...o, from: value(o.from), to: value(o.to) })),
    redundant: merge.redundant.map((r) => ({ ...r, value: value(r.value) })),
    warnings: merge.warnings,
  };
}

const lostToJson = (final: KernelConfig, l: LostValue) => ({
  name: l.name,
  requested: { ...l.requested, value: value(l.requested.value) },
  actual: l.actual === undefined ? null : entry(final.source, l.actual),
});

export function verifyToJson(final: KernelConfig, result: FragmentVerification) {
  return {
    ok: result.lost.length === 0,
    checked: result.checked,
    lost: result.lost.map((l) => lostToJson(final, l)),
    allowed: result.allowed.map((l) => lostToJson(final, l)),
    unusedAllowed: result.unusedAllowed,
  };
}
