import { KartError } from '../../errors.ts';

/**
 * Errors of the install core. A refused layer entry is a verification failure (exit 1): the image is
 * not what a kernel image may be, and nothing of it was installed. Every message names the entry, the
 * layer, and why, so whoever published the image can find and fix it.
 */
export function entryRefused(layer: string, entry: string, why: string): KartError {
  return new KartError('LAYER_ENTRY_REFUSED', `layer ${layer}: entry "${entry}" refused: ${why}`, {
    exitCode: 1,
    hint: 'the image holds an entry a kernel image never needs; nothing was installed and the destination is unchanged',
    details: { layer, entry, reason: why },
  });
}

export function kernelImageInvalid(what: string, hint: string, details?: Record<string, unknown>): KartError {
  return new KartError('KERNEL_ARTIFACT_INVALID', what, {
    exitCode: 1,
    hint: `${hint}; nothing was installed and the destination is unchanged`,
    ...(details === undefined ? {} : { details }),
  });
}
