export { parseCatalogue, type ParseCatalogueOptions } from './catalogue-file.ts';
export { readCatalogueFile } from './read-catalogue.ts';
export { expandCatalogue } from './expand-catalogue.ts';
export { CATALOGUE_PLACEHOLDERS } from './catalogue-pattern.ts';
export type { Catalogue, CatalogueEntry, PublishJob } from './types.ts';
