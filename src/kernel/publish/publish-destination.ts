import { KartError } from '../../errors.ts';
import { formatReference, parseReference } from '../../oci/reference.ts';
import type { Flavor } from '../flavor/index.ts';

/**
 * Where a publish goes: `--to REGISTRY/REPO` or `--to oci:DIR` as given, or `--registry REGISTRY`
 * with the repository named by the flavor (`repository = zone-kernel` in flavors/zone.ini), so
 * `--registry ghcr.io/acme --flavor zone` publishes to ghcr.io/acme/zone-kernel. A flavor without a
 * repository line publishes to `<flavor>-kernel`, the same naming scheme.
 */
export interface PublishDestinationOptions {
  to?: string;
  registry?: string;
}

export function defaultRepositoryOf(flavor: Pick<Flavor, 'name' | 'repository'>): string {
  return flavor.repository ?? `${flavor.name}-kernel`;
}

/** The destination reference (no tag: the tag policy chooses the tags). Throws PUBLISH_DESTINATION_*. */
export function publishDestination(
  options: PublishDestinationOptions,
  flavor: Pick<Flavor, 'name' | 'repository'>,
): string {
  if (options.to !== undefined && options.registry !== undefined) {
    throw new KartError('PUBLISH_DESTINATION_CONFLICT', '--to and --registry were both given', {
      exitCode: 2,
      hint: 'give --to REGISTRY/REPO (or oci:DIR), or --registry REGISTRY to take the repository from the flavor',
    });
  }
  if (options.to === undefined && options.registry === undefined) {
    throw new KartError('PUBLISH_DESTINATION_MISSING', 'no destination: publish needs --to or --registry', {
      exitCode: 2,
      hint: 'e.g. --to ghcr.io/acme/zone-kernel, --to oci:./kernels, or --registry ghcr.io/acme',
    });
  }
  const text = options.to ?? `${(options.registry ?? '').replace(/\/+$/, '')}/${defaultRepositoryOf(flavor)}`;
  const reference = parseReference(text);
  if (reference.tag !== undefined || reference.digest !== undefined) {
    throw new KartError(
      'PUBLISH_DESTINATION_INVALID',
      `destination ${text} names a ${reference.digest !== undefined ? 'digest' : 'tag'}; publish chooses the tags itself`,
      {
        exitCode: 2,
        hint: `give the repository alone (${formatReference({ ...reference, tag: undefined, digest: undefined } as typeof reference)}) and add tags with --tag`,
        details: { destination: text },
      },
    );
  }
  return formatReference(reference);
}
