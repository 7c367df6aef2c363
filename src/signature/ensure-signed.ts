import { KartError } from '../errors.ts';
import { plainDescriptor } from '../oci/schema.ts';
import type { Target } from '../oci/store.ts';
import type { SigningKey } from './keys.ts';
import { signDescriptor, type SignatureWritten } from './sign-artifact.ts';
import { verificationKeys } from './keys.ts';
import { verifySubject } from './verify-artifact.ts';

/**
 * `publish --sign-key`: every manifest and index a publish wrote gets a signature by the key, unless
 * one by that key already verifies there (so publishing the same build again adds no signature).
 */
export interface EnsuredSignature extends Omit<SignatureWritten, 'bundle'> {
  action: 'signed' | 'present';
}

/** publish reads its key before pushing anything (publish-kernel.ts imports it from here). */
export { readKeyOnce } from './keys.ts';

export async function ensureSigned(
  target: Target,
  digests: readonly string[],
  key: SigningKey,
  now?: Date,
): Promise<EnsuredSignature[]> {
  const trust = { keys: await verificationKeys([key.publicKey]) };
  const done: EnsuredSignature[] = [];
  for (const digest of [...new Set(digests)]) {
    const subject = plainDescriptor(await target.resolve(digest));
    const present = await verifySubject(target, subject, trust).catch((error: unknown) => {
      if (error instanceof KartError && error.exitCode === 1) return undefined;
      throw error;
    });
    if (present !== undefined) {
      done.push({ subject, signature: present.signature, key: key.fingerprint, action: 'present' });
      continue;
    }
    const written = await signDescriptor(target, subject, key, { now });
    done.push({ subject, signature: written.signature, key: written.key, action: 'signed' });
  }
  return done;
}
