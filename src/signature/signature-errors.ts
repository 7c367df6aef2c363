import type { KartErrorCode } from '../error-codes.ts';
import { KartError } from '../errors.ts';

/** The errors of the signature room; every one names the subject so a launcher's log says what was refused. */
export function signatureMissing(subject: string, where: string): KartError {
  return new KartError('SIGNATURE_MISSING', `${where}: no signature found for ${subject}`, {
    exitCode: 1,
    hint: 'sign it (kart sign REF --key KEY, or cosign sign), or check that the reference names the signed content',
    details: { subject },
  });
}

export function signatureInvalid(subject: string, where: string, reasons: readonly string[]): KartError {
  return new KartError(
    'SIGNATURE_INVALID',
    `${where}: none of the ${reasons.length} signature(s) of ${subject} verifies: ${reasons.join('; ')}`,
    {
      exitCode: 1,
      hint: 'the content was signed by another key or identity, or the signature does not cover this digest',
      details: { subject, reasons },
    },
  );
}

export function keyInvalid(code: KartErrorCode, path: string, why: string, hint: string): KartError {
  return new KartError(code, `${path}: ${why}`, { exitCode: 2, hint, details: { path } });
}
