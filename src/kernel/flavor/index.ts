/** Flavors (what a kernel config must hold to run somewhere) and checking a config against them. */
export type {
  Rule,
  Requirement,
  RequirementLevel,
  Flavor,
  FlavorSummary,
  RequirementResult,
  FlavorCheckResult,
  CheckReport,
  CheckSubject,
} from './types.ts';
export { loadFlavor, listFlavors, SHIPPED_FLAVORS_DIR, MAX_FLAVOR_BYTES } from './load.ts';
export { parseFlavorFile, type FlavorFileContents } from './flavor-file.ts';
export { parseRule, ruleHolds, describeActual } from './rule.ts';
export { checkConfig } from './check.ts';
export { renderCheckText } from './render/text.ts';
export { renderCheckJson } from './render/json.ts';
export { renderCheckGithub } from './render/github.ts';
export { renderCheckJunit, renderCheckJunitReports } from './render/junit.ts';
