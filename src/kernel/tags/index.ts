export {
  parseKernelVersion,
  compareKernelVersions,
  isReleaseVersion,
  isPrerelease,
  versionFromRelease,
  type KernelVersion,
} from './kernel-version.ts';
export { isValidTag, assertValidTag } from './tag-name.ts';
export { expandTagTemplate, templatePlaceholders } from './tag-template.ts';
export {
  planTags,
  parsePublishVersion,
  immutableTagFor,
  looksLikeImmutableTag,
  isImmutableTagMove,
  refuseImmutableTagMoves,
  type TagPlan,
  type TagPlanInput,
  type PlannedTag,
  type TagReason,
  type TagTemplate,
  type TagMove,
} from './policy.ts';
