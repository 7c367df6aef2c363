/**
 * kart's registry commands against the real registry (Debian's distribution 2.8) and skopeo, through
 * the CLI a user runs: exact stdout, stderr and exit codes; digests compared with what skopeo sees.
 */
import { execFile } from 'node:child_process';
import { createServer, request } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Readable } from 'node:stream';
import { promisify } from 'node:util';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openLayout } from '../../src/oci/layout.ts';
import { sha256Digest } from '../../src/oci/digest.ts';
import { MediaType } from '../../src/oci/media-types.ts';
import type { Descriptor } from '../../src/oci/schema.ts';
import { openReference, type RepositoryStore } from '../../src/registry/index.ts';
import { runKart } from '../support/kart-cli.ts';
import { startRegistry, type TestRegistry } from '../support/registry.ts';
import { kernelImage, pushImage } from '../registry/kernel-image-fixture.ts';
import { layoutGraph } from '../registry/layout-graph.ts';

let registry: TestRegistry;
let work: string;
const image = kernelImage('cli');

const kart = (...args: string[]) => runKart(args);

// Asynchronous on purpose: the counting proxy runs in this process and must keep serving skopeo.
async function skopeo(...args: string[]): Promise<string> {
  const { stdout } = await promisify(execFile)('skopeo', ['--insecure-policy', ...args], {
    encoding: 'utf8',
  });
  return stdout;
}

function uploads(from: number): string[] {
  return registry
    .requestLog!.slice(from)
    .filter((r) => r.path.includes('/blobs/uploads/'))
    .map((r) => `${r.method} ${r.status}`);
}

beforeAll(async () => {
  registry = await startRegistry({ countRequests: true });
  work = mkdtempSync(join(tmpdir(), 'kart-registry-cli-'));
  const layout = await openLayout(join(work, 'src'), { create: true });
  await pushImage(layout, image, '6.1');
});
afterAll(async () => {
  await registry?.stop();
  if (work) rmSync(work, { recursive: true, force: true });
});

describe('kart push / pull / copy / tag / tags / resolve', () => {
  it('pushes a layout, resolves, tags and lists', async () => {
    const push = await kart('push', `oci:${join(work, 'src')}:6.1`, `${registry.host}/kart/kernel:6.1`);
    expect(push).toEqual({ code: 0, stdout: `${image.index.digest} 6.1\n`, stderr: '' });
    expect(await kart('resolve', `${registry.host}/kart/kernel:6.1`)).toEqual({
      code: 0,
      stdout: `${image.index.digest}\n`,
      stderr: '',
    });
    expect((await kart('tag', `${registry.host}/kart/kernel:6.1`, 'stable', 'latest')).code).toBe(0);
    expect(await kart('tags', `${registry.host}/kart/kernel`)).toEqual({
      code: 0,
      stdout: '6.1\nlatest\nstable\n',
      stderr: '',
    });
    const json = JSON.parse((await kart('resolve', '--json', `${registry.host}/kart/kernel:stable`)).stdout);
    expect(json).toEqual({
      reference: `${registry.host}/kart/kernel:stable`,
      digest: image.index.digest,
      mediaType: 'application/vnd.oci.image.index.v1+json',
      size: image.index.size,
    });
  });

  it('pushing unchanged content again uploads no blob', async () => {
    const before = registry.requestLog!.length;
    const again = await kart(
      'push',
      '--json',
      `oci:${join(work, 'src')}:6.1`,
      `${registry.host}/kart/kernel:6.1`,
    );
    expect(again.code).toBe(0);
    expect(JSON.parse(again.stdout)).toMatchObject({
      digest: image.index.digest,
      copied: 0,
      skipped: 1,
      mounted: 0,
      bytes: 0,
    });
    expect(uploads(before)).toEqual([]);
    // The tag already names this index: one HEAD, nothing walked, nothing written, no tag moved.
    expect(registry.requestLog!.slice(before).map((r) => `${r.method} ${r.path}`)).toEqual([
      'HEAD /v2/kart/kernel/manifests/6.1',
    ]);
  });

  it('copying to a second repository mounts every blob instead of uploading', async () => {
    const before = registry.requestLog!.length;
    const copy = await kart(
      'copy',
      '--json',
      `${registry.host}/kart/kernel:6.1`,
      `${registry.host}/kart/mirror:6.1`,
    );
    expect(copy.code).toBe(0);
    // Only the two manifests' bytes are sent: the two blobs are mounted.
    expect(JSON.parse(copy.stdout)).toMatchObject({
      digest: image.index.digest,
      mounted: 2,
      copied: 2,
      bytes: image.manifest.size + image.index.size,
    });
    expect(uploads(before)).toEqual(['POST 201', 'POST 201']);
    expect(await kart('resolve', `${registry.host}/kart/mirror:6.1`)).toMatchObject({
      code: 0,
      stdout: `${image.index.digest}\n`,
    });
  });

  it('pulls into a layout with every byte and digest kept', async () => {
    const dir = join(work, 'pulled');
    const pull = await kart('pull', `${registry.host}/kart/kernel:6.1`, `oci:${dir}:6.1`);
    expect(pull).toEqual({ code: 0, stdout: `${image.index.digest} 6.1\n`, stderr: '' });
    const layer = readFileSync(join(dir, 'blobs/sha256', image.layer.digest.slice(7)));
    expect(sha256Digest(layer)).toBe(image.layer.digest);
    const layout = await openLayout(dir);
    expect(await layout.resolve('6.1')).toMatchObject({ digest: image.index.digest, size: image.index.size });
  });

  it('skopeo copies what kart pushed, registry → layout, keeping every digest', async () => {
    const dir = join(work, 'skopeo-layout');
    await skopeo(
      'copy',
      '--all',
      '--preserve-digests',
      '--src-tls-verify=false',
      `docker://${registry.host}/kart/kernel:6.1`,
      `oci:${dir}:6.1`,
    );
    const index = JSON.parse(readFileSync(join(dir, 'index.json'), 'utf8')) as {
      manifests: Array<{ digest: string }>;
    };
    expect(index.manifests.map((m) => m.digest)).toEqual([image.index.digest]);
    for (const d of [image.manifest, image.config, image.layer]) {
      expect(sha256Digest(readFileSync(join(dir, 'blobs/sha256', d.digest.slice(7))))).toBe(d.digest);
    }
    const raw = await skopeo(
      'inspect',
      '--raw',
      '--tls-verify=false',
      `docker://${registry.host}/kart/kernel:6.1`,
    );
    expect(Buffer.from(raw)).toEqual(image.indexBytes);
  });

  it.each([
    ['oci', []],
    ['v2s2', ['--format', 'v2s2']],
  ])('kart pulls what skopeo pushed (%s)', async (format, flags) => {
    await skopeo(
      'copy',
      ...flags,
      '--dest-tls-verify=false',
      `oci:${join(work, 'src')}:6.1`,
      `docker://${registry.host}/kart/from-skopeo-${format}:1`,
    );
    const raw = await skopeo(
      'inspect',
      '--raw',
      '--tls-verify=false',
      `docker://${registry.host}/kart/from-skopeo-${format}:1`,
    );
    const digest = sha256Digest(Buffer.from(raw));
    const mediaType = (JSON.parse(raw) as { mediaType: string }).mediaType;
    expect(mediaType).toBe(
      format === 'oci'
        ? 'application/vnd.oci.image.manifest.v1+json'
        : 'application/vnd.docker.distribution.manifest.v2+json',
    );
    const dir = join(work, `from-skopeo-${format}`);
    const pull = await kart('pull', `${registry.host}/kart/from-skopeo-${format}:1`, `oci:${dir}:1`);
    expect(pull).toEqual({ code: 0, stdout: `${digest} 1\n`, stderr: '' });
    expect(sha256Digest(readFileSync(join(dir, 'blobs/sha256', image.layer.digest.slice(7))))).toBe(
      image.layer.digest,
    );
  });
});

describe('errors a user can act on', () => {
  it('unknown tag and unknown repository: exit 3', async () => {
    expect(await kart('resolve', `${registry.host}/kart/kernel:9.9`)).toEqual({
      code: 3,
      stdout: '',
      stderr: `kart: error: manifest ${registry.host}/kart/kernel:9.9: not found (MANIFEST_UNKNOWN: manifest unknown)\nkart: hint: check the repository name and tag (kart tags REPO lists the tags)\n`,
    });
    const tags = await kart('tags', '--json', `${registry.host}/kart/none`);
    expect(tags.code).toBe(3);
    expect(JSON.parse(tags.stdout).error).toMatchObject({
      code: 'NOT_FOUND',
      message: `tags of ${registry.host}/kart/none: not found (NAME_UNKNOWN: repository name not known to registry)`,
    });
  });

  it('unknown host and refused connection: exit 3', async () => {
    const unknown = await kart('resolve', 'registry.invalid/kart/kernel:1');
    expect(unknown.code).toBe(3);
    expect(unknown.stderr).toBe(
      'kart: error: manifest registry.invalid/kart/kernel:1: cannot resolve registry host "registry.invalid"\nkart: hint: check the host name in the reference and your DNS/network settings\n',
    );
    const refused = await kart('resolve', '127.0.0.1:9/kart/kernel:1');
    expect(refused.code).toBe(3);
    expect(refused.stderr).toBe(
      'kart: error: manifest 127.0.0.1:9/kart/kernel:1: connection to 127.0.0.1:9 refused\nkart: hint: nothing is listening at 127.0.0.1:9; check the port and that the registry is running\n',
    );
  });

  it('a malformed reference: exit 2, nothing written', async () => {
    const before = registry.requestLog!.length;
    const bad = await kart('copy', `oci:${join(work, 'src')}:6.1`, `${registry.host}/Kart/Kernel:6.1`);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(
      /^kart: error: reference "127\.0\.0\.1:\d+\/Kart\/Kernel:6\.1": the repository "Kart\/Kernel" is not valid/,
    );
    expect(registry.requestLog!.length).toBe(before);
  });

  it('push from anything but a layout is a usage error: exit 2', async () => {
    const wrong = await kart('push', `${registry.host}/kart/kernel:6.1`, `oci:${join(work, 'x')}:1`);
    expect(wrong).toEqual({
      code: 2,
      stdout: '',
      stderr:
        `kart: error: kart push copies from an OCI layout, got "${registry.host}/kart/kernel:6.1" → "oci:${join(work, 'x')}:1"\n` +
        'kart: hint: write kart push oci:DIR:TAG HOST/REPO:TAG, or use kart copy from a registry\n',
    });
  });

  it.each([['0'], ['65'], ['two'], ['1.5'], ['-1']])(
    '--concurrency %s: CONCURRENCY_INVALID, exit 2, nothing sent',
    async (value) => {
      const before = registry.requestLog!.length;
      const message =
        `kart: error: --concurrency ${value}: not a whole number from 1 to 64\n` +
        'kart: hint: pass e.g. --concurrency 4\n';
      const push = await kart(
        'push',
        `--concurrency=${value}`,
        `oci:${join(work, 'src')}:6.1`,
        `${registry.host}/kart/conc:6.1`,
      );
      expect(push).toEqual({ code: 2, stdout: '', stderr: message });
      const pull = await kart(
        'pull',
        `--concurrency=${value}`,
        `${registry.host}/kart/kernel:6.1`,
        `oci:${join(work, 'conc-pull')}:6.1`,
      );
      expect(pull).toEqual({ code: 2, stdout: '', stderr: message });
      const json = await kart(
        'copy',
        '--json',
        `--concurrency=${value}`,
        `${registry.host}/kart/kernel:6.1`,
        `${registry.host}/kart/conc:6.1`,
      );
      expect(json.code).toBe(2);
      expect(JSON.parse(json.stdout).error.code).toBe('CONCURRENCY_INVALID');
      expect(registry.requestLog!.length).toBe(before);
    },
  );

  it('--referrers from a layout is REFERRERS_UNSUPPORTED before anything is sent: exit 2', async () => {
    const before = registry.requestLog!.length;
    const run = await kart(
      'push',
      '--referrers',
      `oci:${join(work, 'src')}:6.1`,
      `${registry.host}/kart/no-referrers:6.1`,
    );
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(
      /^kart: error: --referrers: the source .* is not a registry; layouts do not list referrers\n/,
    );
    expect(registry.requestLog!.length).toBe(before);
  });
});

describe('--concurrency from the command line', () => {
  /**
   * A proxy in front of the registry that holds every blob PUT for a moment before passing it on, so
   * uploads that run at the same time overlap here, and records the most that were in flight at once.
   */
  async function startOverlapProxy() {
    const [hostname, port] = registry.host.split(':');
    const state = { inFlight: 0, most: 0 };
    const server = createServer((req, res) => {
      const upload = req.method === 'PUT' && (req.url ?? '').includes('/blobs/uploads/');
      if (upload) state.most = Math.max(state.most, ++state.inFlight);
      const forward = () => {
        const upstream = request(
          { hostname, port: Number(port), method: req.method, path: req.url, headers: req.headers },
          (answer) => {
            res.writeHead(answer.statusCode ?? 502, answer.rawHeaders);
            answer.pipe(res);
            answer.on('end', () => {
              if (upload) state.inFlight--;
            });
          },
        );
        upstream.on('error', () => res.destroy());
        req.pipe(upstream);
      };
      if (upload) setTimeout(forward, 400);
      else forward();
    });
    await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
    return {
      host: `127.0.0.1:${(server.address() as AddressInfo).port}`,
      state,
      stop: () =>
        new Promise<void>((done) => {
          server.closeAllConnections();
          server.close(() => done());
        }),
    };
  }

  it.each([1, 2])('--concurrency %i: that many blob uploads at once, no more', async (n) => {
    const proxy = await startOverlapProxy();
    try {
      const push = await kart(
        'push',
        '--json',
        '--concurrency',
        String(n),
        `oci:${join(work, 'src')}:6.1`,
        `${proxy.host}/kart/concurrency-${n}:6.1`,
      );
      expect(push.code).toBe(0);
      // config and kernel layer: two blobs, uploaded one after the other or side by side.
      expect(JSON.parse(push.stdout)).toMatchObject({ digest: image.index.digest, copied: 4 });
      expect(proxy.state.most).toBe(n);
    } finally {
      await proxy.stop();
    }
  });
});

describe('layouts wherever a registry reference goes', () => {
  it('kart push writes to another layout', async () => {
    const dir = join(work, 'pushed-layout');
    const push = await kart('push', `oci:${join(work, 'src')}:6.1`, `oci:${dir}:copied`);
    expect(push).toEqual({ code: 0, stdout: `${image.index.digest} copied\n`, stderr: '' });
    expect(layoutGraph(dir, 'copied')).toEqual(layoutGraph(join(work, 'src'), '6.1'));
  });

  it('kart pull reads from another layout; a registry destination is still a usage error', async () => {
    const dir = join(work, 'pulled-layout');
    const pull = await kart('pull', `oci:${join(work, 'src')}:6.1`, `oci:${dir}:6.1`);
    expect(pull).toEqual({ code: 0, stdout: `${image.index.digest} 6.1\n`, stderr: '' });
    expect(layoutGraph(dir, '6.1')).toEqual(layoutGraph(join(work, 'src'), '6.1'));
    const wrong = await kart('pull', `oci:${join(work, 'src')}:6.1`, `${registry.host}/kart/x:6.1`);
    expect(wrong.code).toBe(2);
    expect(wrong.stderr).toContain('kart: error: kart pull copies into an OCI layout');
  });
});

describe('kart copy --referrers', () => {
  it('carries an attached artifact to the destination (distribution 2.8: through the fallback tag)', async () => {
    const source = `${registry.host}/kart/referrers-src`;
    const destination = `${registry.host}/kart/referrers-dst`;
    expect((await kart('push', `oci:${join(work, 'src')}:6.1`, `${source}:6.1`)).code).toBe(0);

    // A signature attached to the index: an artifact whose subject is the index.
    const empty = Buffer.from('{}');
    const config: Descriptor = { mediaType: MediaType.OciEmpty, digest: sha256Digest(empty), size: 2 };
    const payload = Buffer.from('kart test signature\n');
    const layer: Descriptor = {
      mediaType: 'application/vnd.kart.test.signature',
      digest: sha256Digest(payload),
      size: payload.length,
    };
    const signature = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: MediaType.OciManifest,
        artifactType: 'application/vnd.kart.test.signature',
        config,
        layers: [layer],
        subject: image.index,
      }),
    );
    const signatureDigest = sha256Digest(signature);
    const opened = await openReference(source, { access: 'push' });
    try {
      const store = opened.target as RepositoryStore;
      await store.push(config, Readable.from([empty]));
      await store.push(layer, Readable.from([payload]));
      await store.pushManifest(signature, MediaType.OciManifest);
    } finally {
      await opened.close();
    }
    const fallbackTag = `sha256-${image.index.digest.slice('sha256:'.length)}`;
    expect((await kart('tags', source)).stdout).toBe(`6.1\n${fallbackTag}\n`);

    const copy = await kart('copy', '--referrers', '--json', `${source}:6.1`, `${destination}:6.1`);
    expect(copy.stderr).toBe('');
    expect(copy.code).toBe(0);
    expect(JSON.parse(copy.stdout)).toMatchObject({
      digest: image.index.digest,
      referrers: [signatureDigest],
    });

    // The destination lists the artifact among the index's referrers (its own fallback index)...
    expect((await kart('tags', destination)).stdout).toBe(`6.1\n${fallbackTag}\n`);
    const dst = await openReference(destination);
    try {
      const store = dst.target as RepositoryStore;
      expect(await store.referrers(image.index)).toEqual([
        {
          mediaType: MediaType.OciManifest,
          digest: signatureDigest,
          size: signature.length,
          artifactType: 'application/vnd.kart.test.signature',
        },
      ]);
      // ... and holds it byte for byte, with its blobs.
      expect(
        await store.fetchManifestBytes({
          mediaType: MediaType.OciManifest,
          digest: signatureDigest,
          size: signature.length,
        }),
      ).toEqual(signature);
      expect(await store.exists(layer)).toBe(true);
      expect(await store.exists(config)).toBe(true);
    } finally {
      await dst.close();
    }
  });
});
