import { KartError } from '../../errors.ts';

export function bundleInvalid(what: string, hint: string): KartError {
  return new KartError('BUNDLE_INVALID', what, { hint });
}

/** The image does not hash to the published root: the guest would fail to mount it (exit 1). */
export function bundleRootHashMismatch(where: string, cause: KartError): KartError {
  return new KartError(
    'BUNDLE_ROOT_HASH_MISMATCH',
    `${where}: the rootfs image does not match its published dm-verity parameters: ${cause.message}`,
    {
      hint: 'the image and its root hash went stale against each other; republish the bundle (nothing was installed)',
      exitCode: 1,
      cause,
      ...(cause.details === undefined ? {} : { details: cause.details }),
    },
  );
}
