import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { markVerified, verifiedDigestOf, type Digest } from '../../src/oci/digest.ts';
import { openLayout } from '../../src/oci/layout.ts';
import { MediaType } from '../../src/oci/media-types.ts';
import { descriptorOf, pushBytes } from '../../src/oci/manifest-io.ts';
import type { Target } from '../../src/oci/store.ts';
import { observeTransfer } from '../../src/oci/transfer-observer.ts';
import { copyReference } from '../../src/registry/index.ts';
import { startRegistry, type TestRegistry } from '../support/registry.ts';
import { kartErrorOf } from '../support/kart-error.ts';

/**
 * Bytes are hashed once on their way: a layout's fetch and a registry blob read verify as they flow,
 * and the upload / layout write that consumes them does not hash again. These prove that skipping the
 * second hash loses nothing: content corrupted at rest on either side still fails the copy with a
 * KartError, and nothing corrupt is committed (no tag at the registry, no blob file in the layout).
 */
let registry: TestRegistry;
let work: string;
const blob = Buffer.alloc(200_000, 7);
const blobDigest: Digest = `sha256:${createHash('sha256').update(blob).digest('hex')}`;

beforeAll(async () => {
  registry = await startRegistry();
  work = mkdtempSync(join(tmpdir(), 'kart-verified-once-'));
});

afterAll(async () => {
  await registry?.stop();
  if (work) rmSync(work, { recursive: true, force: true });
});

async function put(store: Target, bytes: Buffer, mediaType: string) {
  const desc = descriptorOf(bytes, mediaType);
  await pushBytes(store, desc, bytes);
  return desc;
}

async function layoutWithImage(dir: string): Promise<void> {
  const layout = await openLayout(dir, { create: true });
  const config = Buffer.from('{"architecture":"amd64","os":"linux"}');
  const configDesc = await put(layout, config, MediaType.OciConfig);
  const layerDesc = await put(layout, blob, MediaType.OciLayer);
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: MediaType.OciManifest,
      config: configDesc,
      layers: [layerDesc],
    }),
  );
  const manifestDesc = await put(layout, manifest, MediaType.OciManifest);
  await layout.tag(manifestDesc, 'v1');
}

const failure = (promise: Promise<unknown>) => kartErrorOf(promise);

// The CLI always moves blobs through observeTransfer (an abort signal, a progress display): the
// store behind it must still see the source's verification, and still get its errors.
const observed = { signal: new AbortController().signal, onTransfer: () => {} };

describe.each([
  ['', {}],
  ['-observed', observed],
])('verified once, still verified%s', (variant, options) => {
  it('a layout blob corrupted at rest fails the push, and the registry gets no tag', async () => {
    const dir = join(work, `corrupt-layout${variant}`);
    await layoutWithImage(dir);
    // Same size, different bytes: only a hash can tell.
    writeFileSync(join(dir, 'blobs', 'sha256', blobDigest.slice(7)), Buffer.alloc(blob.length, 8));
    const { code, message } = await failure(
      copyReference(`oci:${dir}:v1`, `${registry.host}/verified/push${variant}:v1`, options),
    );
    expect(['DIGEST_MISMATCH', 'REGISTRY_ERROR', 'DIGEST_INVALID']).toContain(code);
    expect(message).toContain(blobDigest);
    const tag = await fetch(`${registry.url}/v2/verified/push${variant}/manifests/v1`, { method: 'HEAD' });
    expect(tag.status).toBe(404);
  });

  it('a registry blob corrupted at rest fails the pull, and the layout keeps no blob file for it', async () => {
    const source = join(work, `good-layout${variant}`);
    await layoutWithImage(source);
    await copyReference(`oci:${source}:v1`, `${registry.host}/verified/pull${variant}:v1`);
    const data = join(
      registry.storageDir,
      'docker/registry/v2/blobs/sha256',
      blobDigest.slice(7, 9),
      blobDigest.slice(7),
      'data',
    );
    writeFileSync(data, Buffer.alloc(blob.length, 9));
    const dest = join(work, `pulled${variant}`);
    const { code, message } = await failure(
      copyReference(`${registry.host}/verified/pull${variant}:v1`, `oci:${dest}:v1`, options),
    );
    expect(code).toBe('DIGEST_MISMATCH');
    expect(message).toContain(blobDigest);
    const blobs = join(dest, 'blobs', 'sha256');
    expect(existsSync(join(blobs, blobDigest.slice(7)))).toBe(false);
    // Whatever else landed hashes to its name.
    for (const name of existsSync(blobs) ? readdirSync(blobs) : []) {
      if (!/^[0-9a-f]{64}$/.test(name)) continue;
      expect(
        createHash('sha256')
          .update(readFileSync(join(blobs, name)))
          .digest('hex'),
      ).toBe(name);
    }
  });
});

describe('observeTransfer', () => {
  it('keeps the mark of a source that verifies itself, and adds none to one that does not', () => {
    const desc = { mediaType: MediaType.OciLayer, digest: blobDigest, size: blob.length } as const;
    const marked = observeTransfer(markVerified(Readable.from([blob]), blobDigest), desc, observed);
    expect(verifiedDigestOf(marked)).toBe(blobDigest);
    expect(verifiedDigestOf(observeTransfer(Readable.from([blob]), desc, observed))).toBeUndefined();
  });
});
