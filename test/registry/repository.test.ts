import { createReadStream, readFileSync } from 'node:fs';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { copy } from '../../src/oci/copy.ts';
import { sha256Digest } from '../../src/oci/digest.ts';
import { MediaType } from '../../src/oci/media-types.ts';
import type { Descriptor } from '../../src/oci/schema.ts';
import { RegistryHttpClient } from '../../src/registry/http-client.ts';
import { RepositoryStore } from '../../src/registry/repository.ts';
import { referrersTag } from '../../src/registry/referrers.ts';
import { startRegistry, type TestRegistry } from '../support/registry.ts';
import { kernelImage, pushImage, readAll } from './kernel-image-fixture.ts';

let registry: TestRegistry;
let client: RegistryHttpClient;
const image = kernelImage();

function repo(
  name: string,
  extra: Partial<ConstructorParameters<typeof RepositoryStore>[0]> = {},
): RepositoryStore {
  return new RepositoryStore({ client, host: registry.host, repository: name, ...extra });
}

beforeAll(async () => {
  registry = await startRegistry({ countRequests: true });
  client = new RegistryHttpClient();
});
afterAll(async () => {
  await client?.close();
  await registry?.stop();
});

describe('RepositoryStore against distribution 2.8', () => {
  it('pushes a real kernel image and reads every byte back', async () => {
    const store = repo('kart/roundtrip');
    await pushImage(store, image, '6.1');
    const resolved = await store.resolve('6.1');
    expect(resolved).toEqual({
      mediaType: MediaType.OciIndex,
      digest: image.index.digest,
      size: image.index.size,
    });
    expect(await readAll(await store.fetch(image.index))).toEqual(image.indexBytes);
    expect(
      await readAll(
        await new RepositoryStore({ client, host: registry.host, repository: 'kart/roundtrip' }).fetch(
          image.manifest,
        ),
      ),
    ).toEqual(image.manifestBytes);
    expect(await readAll(await store.fetch(image.config))).toEqual(image.configBytes);
    const layer = await readAll(await store.fetch(image.layer));
    expect(sha256Digest(layer)).toBe(image.layer.digest);
    expect(layer).toEqual(readFileSync(image.layerPath));
    expect(await store.exists(image.layer)).toBe(true);
    expect(await store.exists(image.manifest)).toBe(true);
    expect(await store.exists({ ...image.layer, digest: sha256Digest('absent') })).toBe(false);
  });

  it('resolves by digest and lists every tag in lexical order', async () => {
    // Debian's distribution 2.8.2 ignores `n` and answers unsorted; Link paging is proven on the scripted server.
    const store = repo('kart/tags', { tagList: { pageSize: 2 } });
    await pushImage(store, image, 'd');
    for (const tag of ['b', 'e', 'a', 'c']) await store.tag(image.index, tag);
    expect((await store.resolve(image.index.digest)).digest).toBe(image.index.digest);
    const tags: string[] = [];
    for await (const tag of store.tags()) tags.push(tag);
    expect(tags).toEqual(['a', 'b', 'c', 'd', 'e']);
  });

  it('uploads in chunks with Content-Range when the blob is over the threshold', async () => {
    const store = repo('kart/chunked', { upload: { chunkThreshold: 1024 * 1024, chunkSize: 1024 * 1024 } });
    const before = registry.requestLog!.length;
    await store.push(image.layer, createReadStream(image.layerPath));
    const patches = registry.requestLog!.slice(before).filter((r) => r.method === 'PATCH');
    expect(patches.length).toBe(Math.ceil(image.layer.size / (1024 * 1024)));
    expect(patches.every((p) => p.status === 202)).toBe(true);
    expect(sha256Digest(await readAll(await store.fetch(image.layer)))).toBe(image.layer.digest);
  });

  it('mounts a blob from another repository instead of uploading it', async () => {
    const source = repo('kart/mount-src');
    await source.push(image.layer, createReadStream(image.layerPath));
    const dest = repo('kart/mount-dst', { mountFrom: 'kart/mount-src' });
    const seen: string[] = [];
    dest.onPush = (_d, how) => seen.push(how);
    const before = registry.requestLog!.length;
    await dest.push(image.layer, createReadStream(image.layerPath));
    const requests = registry.requestLog!.slice(before);
    expect(seen).toEqual(['mounted']);
    expect(requests.map((r) => `${r.method} ${r.status}`)).toEqual(['POST 201']);
    expect(requests[0]!.path).toBe(
      `/v2/kart/mount-dst/blobs/uploads/?mount=${encodeURIComponent(image.layer.digest)}&from=${encodeURIComponent('kart/mount-src')}`,
    );
    expect(await dest.exists(image.layer)).toBe(true);
  });

  it('refuses content that does not match its descriptor and keeps nothing', async () => {
    const store = repo('kart/bad');
    const content = Buffer.from('not the kernel');
    const wrong: Descriptor = {
      mediaType: MediaType.OciLayer,
      digest: sha256Digest('something else'),
      size: content.length,
    };
    await expect(store.push(wrong, Readable.from([content]))).rejects.toMatchObject({
      code: 'DIGEST_MISMATCH',
      exitCode: 1,
    });
    expect(await store.exists(wrong)).toBe(false);
    expect(await store.exists({ ...wrong, digest: sha256Digest(content) })).toBe(false);
    const short: Descriptor = {
      mediaType: MediaType.OciLayer,
      digest: sha256Digest(content),
      size: content.length + 5,
    };
    await expect(store.push(short, Readable.from([content]))).rejects.toMatchObject({
      code: 'SIZE_MISMATCH',
    });
    expect(await store.exists(short)).toBe(false);
  });

  it('keeps the referrers fallback tag, since distribution 2.8 has no referrers API', async () => {
    const store = repo('kart/referrers');
    await pushImage(store, image, 'v1');
    const empty = Buffer.from('{}');
    const emptyDesc: Descriptor = { mediaType: MediaType.OciEmpty, digest: sha256Digest(empty), size: 2 };
    await store.push(emptyDesc, Readable.from([empty]));
    const sbom = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: MediaType.OciManifest,
        artifactType: 'application/vnd.example.sbom',
        config: emptyDesc,
        layers: [emptyDesc],
        subject: image.index,
        annotations: { 'org.example': 'sbom' },
      }),
    );
    const sbomDesc = await store.pushManifest(sbom, MediaType.OciManifest);
    const referrers = await store.referrers(image.index);
    expect(referrers).toEqual([
      { ...sbomDesc, artifactType: 'application/vnd.example.sbom', annotations: { 'org.example': 'sbom' } },
    ]);
    expect(await store.referrers(image.index, 'application/vnd.other')).toEqual([]);
    expect(referrersTag(image.index.digest)).toBe(`sha256-${image.index.digest.slice(7)}`);
    expect((await store.resolve(referrersTag(image.index.digest))).mediaType).toBe(MediaType.OciIndex);
    await store.delete(sbomDesc);
    expect(await store.referrers(image.index)).toEqual([]);
  });

  it('deletes a manifest; resolving it then fails with NOT_FOUND', async () => {
    const store = repo('kart/delete');
    await pushImage(store, image, 'gone');
    await store.delete(image.index);
    await expect(store.resolve('gone')).rejects.toMatchObject({ code: 'NOT_FOUND', exitCode: 3 });
  });

  it('reports an unknown repository and an unknown tag with NOT_FOUND', async () => {
    await expect(repo('kart/nothing-here').resolve('1.0')).rejects.toMatchObject({
      code: 'NOT_FOUND',
      exitCode: 3,
      message: `manifest ${registry.host}/kart/nothing-here:1.0: not found (MANIFEST_UNKNOWN: manifest unknown)`,
    });
    await expect(async () => {
      for await (const _tag of repo('kart/nothing-here').tags()) expect.unreachable();
    }).rejects.toMatchObject({
      code: 'NOT_FOUND',
      exitCode: 3,
      message: `tags of ${registry.host}/kart/nothing-here: not found (NAME_UNKNOWN: repository name not known to registry)`,
    });
    await expect(repo('kart/roundtrip').resolve('no-such-tag')).rejects.toMatchObject({
      code: 'NOT_FOUND',
      message: `manifest ${registry.host}/kart/roundtrip:no-such-tag: not found (MANIFEST_UNKNOWN: manifest unknown)`,
    });
  });

  it('probes a tag with one HEAD: a new tag over content the repository has costs no GET of the tag', async () => {
    const source = repo('kart/probe');
    await pushImage(source, image, '6.1');
    const before = registry.requestLog!.length;
    expect(await repo('kart/probe').probe('no-such-tag')).toBeUndefined();
    expect(await repo('kart/probe').probe('6.1')).toEqual({
      mediaType: MediaType.OciIndex,
      digest: image.index.digest,
      size: image.index.size,
    });
    // copy's "is the tag there yet?" costs no GET for the registry's words about a 404; the GET left is
    // the manifest's bytes, which the tag's PUT carries.
    await copy(source, '6.1', repo('kart/probe'), '6.2');
    const path = `/v2/kart/probe/manifests`;
    expect(registry.requestLog!.slice(before).map((r) => `${r.method} ${r.path}`)).toEqual([
      `HEAD ${path}/no-such-tag`,
      `HEAD ${path}/6.1`,
      `HEAD ${path}/6.1`,
      `HEAD ${path}/6.2`,
      `HEAD ${path}/${image.index.digest}`,
      `GET ${path}/${image.index.digest}`,
      `PUT ${path}/6.2`,
    ]);
  });
});
