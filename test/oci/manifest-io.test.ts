import { describe, expect, it } from 'vitest';
import {
  MAX_MANIFEST_BYTES,
  MediaType,
  MemoryStore,
  descriptorOf,
  fetchManifest,
  pushBytes,
  pushJson,
  sha256Digest,
} from '../../src/oci/index.ts';
import { buildSmallImage } from './support/small-image.ts';
import { kartErrorOf } from '../support/kart-error.ts';

const caught = (run: () => Promise<unknown>) => kartErrorOf(run);

describe('manifest I/O', () => {
  it('pushJson stores the exact serialised bytes; fetchManifest parses index and manifest by media type', async () => {
    const store = new MemoryStore();
    const image = await buildSmallImage(store, ['amd64']);
    const index = await fetchManifest(store, image.index);
    expect(index.kind).toBe('index');
    expect(sha256Digest(index.bytes)).toBe(image.index.digest);
    if (index.kind !== 'index') throw new Error('unreachable');
    expect(index.index.manifests[0]!.digest).toBe(image.manifests[0]!.digest);
    const manifest = await fetchManifest(store, image.manifests[0]!);
    if (manifest.kind !== 'manifest') throw new Error('expected a manifest');
    expect(manifest.manifest.config).toEqual(image.configs[0]);
    const pushed = await pushJson(store, MediaType.OciConfig, { b: 1, a: 2 });
    expect(pushed.bytes.toString()).toBe('{"b":1,"a":2}');
    expect(pushed.descriptor).toEqual({
      mediaType: MediaType.OciConfig,
      digest: sha256Digest('{"b":1,"a":2}'),
      size: 13,
    });
  });

  it('MANIFEST_TOO_LARGE before reading anything larger than the limit', async () => {
    const store = new MemoryStore();
    const desc = {
      mediaType: MediaType.OciManifest,
      digest: sha256Digest('x'),
      size: MAX_MANIFEST_BYTES + 1,
    };
    const error = await caught(() => fetchManifest(store, desc));
    expect(error.code).toBe('MANIFEST_TOO_LARGE');
    expect(error.message).toBe(
      `${desc.digest} is ${MAX_MANIFEST_BYTES + 1} bytes; documents are read only up to ${MAX_MANIFEST_BYTES}`,
    );
  });

  it('MANIFEST_UNSUPPORTED for a layer media type', async () => {
    const store = new MemoryStore();
    const bytes = Buffer.from('layer');
    const desc = descriptorOf(bytes, MediaType.OciLayer);
    await pushBytes(store, desc, bytes);
    const error = await caught(() => fetchManifest(store, desc));
    expect(error.code).toBe('MANIFEST_UNSUPPORTED');
    expect(error.message).toBe(
      `manifest ${desc.digest} has media type ${MediaType.OciLayer}, not an image manifest or index`,
    );
  });

  it('SCHEMA_INVALID names the bad field of a malformed manifest', async () => {
    const store = new MemoryStore();
    const bytes = Buffer.from(
      '{"schemaVersion":2,"config":{"mediaType":"x","digest":"sha256:00","size":1},"layers":[]}',
    );
    const desc = descriptorOf(bytes, MediaType.OciManifest);
    await pushBytes(store, desc, bytes);
    const error = await caught(() => fetchManifest(store, desc));
    expect(error.code).toBe('SCHEMA_INVALID');
    expect(error.message).toBe(`manifest ${desc.digest}: config.digest: not a valid digest`);
  });
});
