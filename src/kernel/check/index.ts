/** `kart check` on what is not a config file (a kernel image, a published reference) and `kart audit`. */
export {
  checkReference,
  checkResolved,
  ConfigCache,
  type CheckReferenceOptions,
  type PlatformCheck,
  type ReferenceCheck,
} from './check-reference.ts';
export { classifyCheckInput, checkKernelImage, type CheckInput } from './check-inputs.ts';
export {
  auditRepository,
  type AuditOptions,
  type AuditReport,
  type AuditRow,
  type AuditResult,
} from './audit-repository.ts';
export { readPublishedConfig, type PublishedConfig } from './published-config.ts';
export { renderReferenceCheck, renderImageCheck, renderAudit, type CheckFormat } from './render-check.ts';
