import type { Readable } from 'node:stream';
import { KartError } from '../../errors.ts';
import type { Descriptor } from '../../oci/schema.ts';
import type { Fetcher, Target } from '../../oci/store.ts';
import { findSignatures } from '../../signature/find-signatures.ts';
import { loadTrust, type TrustPolicy } from '../../signature/trust-policy.ts';
import { verifyCandidates, type VerifiedSignature } from '../../signature/verify-artifact.ts';
import type { KernelCache } from '../cache/kernel-cache.ts';
import { recordedSignatures, recordSignature } from '../cache/signature-records.ts';

/**
 * pull -k's signature gate: after the index and the platform manifest, before any config or layer,
 * a signature of either (the root a tag names, as `cosign sign` signs it, or the platform manifest,
 * as `kart publish --sign-key` also signs it) must verify against the trust policy. Signatures are
 * read through the cache, and the ones that verified are recorded beside it
 * (`signatures/<alg>-<hex>.json`), so that `--offline` installs only what verified when it was cached
 * and checks it again, against the keys it is given now, from the cached bytes.
 */
export interface PulledSignatureOptions {
  cache: KernelCache;
  /** undefined: offline */
  remote: Target | undefined;
  /** the root first, then the platform manifest */
  subjects: readonly Descriptor[];
  trust: TrustPolicy;
  reference: string;
}

export async function requirePulledSignature(options: PulledSignatureOptions): Promise<VerifiedSignature> {
  const trust = await loadTrust(options.trust);
  const { cache, remote } = options;
  const failures: KartError[] = [];
  for (const subject of unique(options.subjects)) {
    try {
      if (remote === undefined) {
        const candidates = await recordedSignatures(cache.root, subject);
        if (candidates.length === 0) throw notVerifiedOffline(subject, options.reference, cache.root);
        return await verifyCandidates(cache.layout, candidates, subject, trust, `cache ${cache.root}`);
      }
      const candidates = await findSignatures(remote, subject);
      const verified = await verifyCandidates(
        throughCache(cache, remote),
        candidates,
        subject,
        trust,
        remote.name,
      );
      await recordSignature(cache.root, subject, { source: verified.source, manifest: verified.signature });
      return verified;
    } catch (error) {
      if (!(error instanceof KartError) || error.exitCode !== 1) throw error;
      failures.push(error);
    }
  }
  // A signature that did not verify says more than a subject with none.
  throw failures.find((error) => error.code === 'SIGNATURE_INVALID') ?? failures[0]!;
}

/** Reads signatures from the cache, downloading into it (verified by digest) what it lacks. */
function throughCache(cache: KernelCache, remote: Target): Fetcher {
  return {
    fetch: async (desc: Descriptor): Promise<Readable> => {
      await cache.ensure(desc, remote);
      return cache.layout.fetch(desc);
    },
  };
}

function notVerifiedOffline(subject: Descriptor, reference: string, cacheRoot: string): KartError {
  return new KartError(
    'SIGNATURE_MISSING',
    `${reference}: ${subject.digest} was not verified when it was cached in ${cacheRoot}, so --offline will not install it`,
    {
      exitCode: 1,
      hint: 'pull it once with the network and --verify-key; then --offline installs it',
      details: { subject: subject.digest },
    },
  );
}

function unique(subjects: readonly Descriptor[]): Descriptor[] {
  return subjects.filter((s, i) => subjects.findIndex((t) => t.digest === s.digest) === i);
}
