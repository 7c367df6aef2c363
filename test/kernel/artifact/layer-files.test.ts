import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { beforeEach, describe, expect, it } from 'vitest';
import { findLayerFile, layerFiles } from '../../../src/kernel/artifact/index.ts';
import { MediaType, type Descriptor, type Fetcher } from '../../../src/oci/index.ts';
import { openLayout, type OciLayout } from '../../../src/oci/layout.ts';
import { descriptorOf, pushBytes } from '../../../src/oci/manifest-io.ts';
import { kartErrorOf } from '../../support/kart-error.ts';
import { rawTar, type RawEntry } from '../install/crafted-images.ts';

let layout: OciLayout;
let fetches: string[];
let source: Fetcher;
beforeEach(async () => {
  layout = await openLayout(join(mkdtempSync(join(tmpdir(), 'kart-layer-files-')), 'layout'), {
    create: true,
  });
  fetches = [];
  source = {
    fetch: (desc) => {
      fetches.push(desc.digest);
      return layout.fetch(desc);
    },
  };
});

async function layer(
  entries: RawEntry[],
  annotations?: Record<string, string>,
  gzip = false,
): Promise<Descriptor> {
  const tar = rawTar(entries);
  const bytes = gzip ? gzipSync(tar) : tar;
  const desc = descriptorOf(bytes, gzip ? MediaType.OciLayerGzip : MediaType.OciLayer);
  await pushBytes(layout, desc, bytes);
  return annotations === undefined ? desc : { ...desc, annotations };
}

const dir: RawEntry = { path: 'kernel/', type: '5' };

describe('layerFiles', () => {
  it("takes kart's annotation, then an older image's title, without fetching", async () => {
    const file = await layer([dir, { path: 'kernel/image', body: 'x' }]);
    expect(
      await layerFiles(source, { ...file, annotations: { 'dev.edera.kernel.file': 'kernel/image' } }),
    ).toEqual({
      files: ['kernel/image'],
      from: 'annotation',
    });
    expect(
      await layerFiles(source, {
        ...file,
        annotations: { 'org.opencontainers.image.title': 'kernel/image' },
      }),
    ).toEqual({ files: ['kernel/image'], from: 'title' });
    expect(fetches).toEqual([]);
  });

  it('reads the tar headers of a layer without annotations: ./ stripped, directories and whiteouts left out', async () => {
    const single = await layer(
      [
        { path: './kernel/', type: '5' },
        { path: './kernel/image', body: 'kernel bytes' },
        { path: './kernel/config.gz', body: 'config' },
        { path: './kernel/.wh.old', body: '' },
        { path: './kernel/metadata', body: 'KERNEL_ARCH=x86_64\n' },
      ],
      undefined,
      true,
    );
    expect(await layerFiles(source, single, { read: 'kernel/metadata', maxBytes: 100 })).toEqual({
      files: ['kernel/image', 'kernel/config.gz', 'kernel/metadata'],
      from: 'tar',
      content: Buffer.from('KERNEL_ARCH=x86_64\n'),
    });
    // Over the limit: listed, not returned.
    expect(await layerFiles(source, single, { read: 'kernel/metadata', maxBytes: 5 })).toEqual({
      files: ['kernel/image', 'kernel/config.gz', 'kernel/metadata'],
      from: 'tar',
    });
  });
});

describe('the tar fallback reads the layer to its end', () => {
  it('a layer whose bytes after the end-of-archive marker do not match its digest is refused, not listed', async () => {
    // A tar padded to a whole record, as tar(1) writes it; the last padding byte is changed on disk.
    const tar = Buffer.concat([rawTar([dir, { path: 'kernel/image', body: 'k' }]), Buffer.alloc(8192)]);
    const desc = descriptorOf(tar, MediaType.OciLayer);
    await pushBytes(layout, desc, tar);
    expect(await layerFiles(source, desc)).toEqual({ files: ['kernel/image'], from: 'tar' });
    const tampered = Buffer.from(tar);
    tampered[tampered.length - 1] = 1;
    writeFileSync(layout.blobPath(desc.digest), tampered);
    const refused = await kartErrorOf(layerFiles(source, desc));
    expect([refused.code, refused.exitCode]).toEqual(['DIGEST_MISMATCH', 1]);
    expect((await kartErrorOf(findLayerFile(source, [desc], 'kernel/image', 10))).code).toBe(
      'DIGEST_MISMATCH',
    );
  });
});

describe('findLayerFile', () => {
  it('matches annotated layers without a fetch and reads only the layer that holds the file', async () => {
    const image = await layer([dir, { path: 'kernel/image', body: 'k' }], {
      'dev.edera.kernel.file': 'kernel/image',
    });
    const config = await layer([dir, { path: 'kernel/config.gz', body: 'cfg' }], {
      'dev.edera.kernel.file': 'kernel/config.gz',
    });
    expect(await findLayerFile(source, [image, config], 'kernel/config.gz', 1024)).toEqual({
      layer: config,
      content: Buffer.from('cfg'),
    });
    expect(fetches).toEqual([config.digest]);
  });

  it('reads un-annotated layers in order until one holds the file; undefined when none does', async () => {
    const image = await layer([dir, { path: 'kernel/image', body: 'k' }]);
    const config = await layer([dir, { path: 'kernel/config.gz', body: 'cfg' }]);
    expect(await findLayerFile(source, [image, config], 'kernel/config.gz', 1024)).toEqual({
      layer: config,
      content: Buffer.from('cfg'),
    });
    expect(await findLayerFile(source, [image], 'kernel/config.gz', 1024)).toBeUndefined();
  });
});
