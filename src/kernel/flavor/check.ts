import type { ConfigEntry, KernelConfig } from '../config/types.ts';
import { displayConfigSource } from './display-path.ts';
import { describeActual, ruleHolds } from './rule.ts';
import type { CheckReport, Flavor, FlavorCheckResult, Requirement, RequirementResult } from './types.ts';

/**
 * Judges a kernel config against flavors. Pure: no I/O, so pack/publish can call it on a config they
 * already hold, and renderers turn the report into text, JSON, GitHub annotations or JUnit.
 */

function whereActual(config: KernelConfig, entry: ConfigEntry | undefined): string {
  const source = displayConfigSource(config.source);
  return entry === undefined ? `not in ${source}` : `${source}:${entry.line}`;
}

function judge(config: KernelConfig, requirement: Requirement): RequirementResult {
  const entry = config.get(requirement.symbol);
  const ok = ruleHolds(requirement.rule, entry);
  const actual = describeActual(entry);
  const verb = requirement.level === 'require' ? 'requires' : 'recommends';
  const asker = `${requirement.level === 'require' ? 'required' : 'recommended'} by ${requirement.file}:${requirement.line}`;
  const message = ok
    ? `${requirement.symbol} ${verb} ${requirement.ruleText} and is ${actual} (${whereActual(config, entry)}; ${asker})`
    : `${requirement.symbol} ${verb} ${requirement.ruleText} but is ${actual} (${whereActual(config, entry)}; ${asker})`;
  return {
    symbol: requirement.symbol,
    rule: requirement.ruleText,
    level: requirement.level,
    ok,
    actual,
    ...(entry === undefined ? {} : { configLine: entry.line }),
    flavorFile: requirement.file,
    flavorLine: requirement.line,
    message,
  };
}

export function checkConfig(config: KernelConfig, flavors: Flavor[]): CheckReport {
  const results: FlavorCheckResult[] = flavors.map((flavor) => {
    const requirements = flavor.requirements.map((requirement) => judge(config, requirement));
    const failures = requirements.filter((result) => !result.ok);
    const warnings = flavor.recommendations
      .map((recommendation) => judge(config, recommendation))
      .filter((result) => !result.ok);
    return {
      flavor: flavor.name,
      file: flavor.file,
      ok: failures.length === 0,
      requirements,
      failures,
      warnings,
    };
  });
  const count = (pick: (result: FlavorCheckResult) => unknown[]): number =>
    results.reduce((sum, result) => sum + pick(result).length, 0);
  return {
    ok: results.every((result) => result.ok),
    config: config.source,
    flavors: results,
    configWarnings: config.warnings.map((warning) => warning.message),
    summary: {
      flavors: results.length,
      requirements: count((r) => r.requirements),
      failures: count((r) => r.failures),
      warnings: count((r) => r.warnings),
    },
  };
}
