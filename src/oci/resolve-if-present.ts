import { KartError } from '../errors.ts';
import type { Descriptor } from './schema.ts';
import type { TagResolver } from './store.ts';

/**
 * What `reference` (a tag or a digest) names in `store`, or undefined when it names nothing. Only
 * NOT_FOUND means absent: any other failure (the registry down, a denied read, a damaged layout) is
 * thrown, so a caller never takes "could not read" for "not there" and writes over what exists.
 */
export async function resolveIfPresent(
  store: Pick<TagResolver, 'resolve'>,
  reference: string,
): Promise<Descriptor | undefined> {
  try {
    return await store.resolve(reference);
  } catch (error) {
    if (error instanceof KartError && error.code === 'NOT_FOUND') return undefined;
    throw error;
  }
}
