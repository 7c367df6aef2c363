/**
 * The fallback index kart keeps on a store without the referrers API: only NOT_FOUND means "no index
 * yet"; a store that fails to read the tag must not have its index replaced by a one-entry index.
 * The failing read is a MemoryStore whose resolve of that tag throws (no real store fails on demand).
 */
import { describe, expect, it } from 'vitest';
import { KartError } from '../../src/errors.ts';
import { descriptorOf, fetchBytes, pushBytes } from '../../src/oci/manifest-io.ts';
import { MemoryStore } from '../../src/oci/memory-store.ts';
import { resolveIfPresent } from '../../src/oci/resolve-if-present.ts';
import type { Digest } from '../../src/oci/digest.ts';
import type { Target } from '../../src/oci/store.ts';
import { referrersTag } from '../../src/registry/referrers.ts';
import { attachReferrer, listReferrer, listReferrers } from '../../src/registry/store-referrers.ts';
import { signatureManifest } from '../../src/signature/signature-manifest.ts';
import { kartErrorOf } from '../support/kart-error.ts';

async function referrer(store: MemoryStore, subject: ReturnType<typeof descriptorOf>, text: string) {
  const bundle = Buffer.from(text);
  const bundleDesc = descriptorOf(bundle, 'application/vnd.dev.sigstore.bundle.v0.3+json');
  await pushBytes(store, bundleDesc, bundle);
  return signatureManifest(subject, bundleDesc, new Date('2026-01-01T00:00:00Z'));
}

describe('store-referrers on a store without the referrers API', () => {
  it('a failed read of the fallback tag is thrown, and the index it names is left as it was', async () => {
    const store = new MemoryStore('mem');
    const subjectBytes = Buffer.from('{"schemaVersion":2}');
    const subject = descriptorOf(subjectBytes, 'application/vnd.oci.image.manifest.v1+json');
    await pushBytes(store, subject, subjectBytes);
    const first = await referrer(store, subject, 'first');
    await attachReferrer(store, subject, first);
    const tag = referrersTag(subject.digest as Digest);
    const before = await store.resolve(tag);

    const failing: Target = {
      name: store.name,
      exists: (desc) => store.exists(desc),
      fetch: (desc) => store.fetch(desc),
      push: (desc, content) => store.push(desc, content),
      tag: (desc, reference) => store.tag(desc, reference),
      resolve: async (reference) => {
        if (reference === tag) throw new KartError('REGISTRY_ERROR', 'read failed', { exitCode: 3 });
        return store.resolve(reference);
      },
    };
    const second = await referrer(store, subject, 'second');
    await pushBytes(store, second.descriptor, second.bytes);
    const error = await kartErrorOf(listReferrer(failing, subject, second));
    expect([error.code, error.message]).toEqual(['REGISTRY_ERROR', 'read failed']);
    expect((await kartErrorOf(listReferrers(failing, subject))).code).toBe('REGISTRY_ERROR');
    expect((await store.resolve(tag)).digest).toBe(before.digest);
    expect((await listReferrers(store, subject)).map((d) => d.digest)).toEqual([first.descriptor.digest]);

    // With a working read, the second is added beside the first.
    await listReferrer(store, subject, second);
    expect((await listReferrers(store, subject)).map((d) => d.digest).sort()).toEqual(
      [first.descriptor.digest, second.descriptor.digest].sort(),
    );
    expect(JSON.parse((await fetchBytes(store, await store.resolve(tag))).toString()).manifests).toHaveLength(
      2,
    );
  });

  it('resolveIfPresent: NOT_FOUND is undefined, anything else is thrown', async () => {
    const store = new MemoryStore('mem');
    expect(await resolveIfPresent(store, 'absent')).toBeUndefined();
    const denied = { resolve: async () => Promise.reject(new KartError('DENIED', 'no', { exitCode: 3 })) };
    expect((await kartErrorOf(resolveIfPresent(denied, 'x'))).code).toBe('DENIED');
  });
});
