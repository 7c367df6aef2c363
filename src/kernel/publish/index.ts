export {
  publishKernel,
  type PublishKernelOptions,
  type PublishResult,
  type PublishBlob,
  type PublishTag,
} from './publish-kernel.ts';
export {
  publishCatalogue,
  type PublishCatalogueOptions,
  type CatalogueSummary,
  type CatalogueJobOutcome,
} from './publish-catalogue.ts';
export {
  publishDestination,
  defaultRepositoryOf,
  type PublishDestinationOptions,
} from './publish-destination.ts';
export {
  updateTagIndex,
  tagsMissingEntry,
  DEFAULT_INDEX_ATTEMPTS,
  type TagIndexUpdate,
  type UpdateTagIndexOptions,
} from './update-tag-index.ts';
