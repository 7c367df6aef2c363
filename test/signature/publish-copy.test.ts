/**
 * publish --sign-key signs every manifest and index it writes (once: publishing again adds nothing),
 * and copy --referrers carries signatures — kart's bundle referrers and legacy `.sig` tags — to
 * another repository and into a layout, where they verify again.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { publishKernel } from '../../src/kernel/publish/index.ts';
import { copyReference, legacySignatureTag, listReferrers, openReference } from '../../src/registry/index.ts';
import { findSignatures, loadTrust, verifyArtifact } from '../../src/signature/index.ts';
import { verifyCandidates } from '../../src/signature/verify-artifact.ts';
import { makeFixtureWorld, type FixtureWorld } from '../kernel/publish/publish-fixture.ts';
import { runKart } from '../support/kart-cli.ts';
import { kartErrorOf } from '../support/kart-error.ts';
import { startRegistry, type TestRegistry } from '../support/registry.ts';
import { opensslKeyPair, storeOpensslLegacySignature, type KeyFiles } from './signature-fixtures.ts';

let registry: TestRegistry;
let world: FixtureWorld;
let work: string;
let alice: KeyFiles;

beforeAll(async () => {
  registry = await startRegistry();
  world = makeFixtureWorld();
  work = mkdtempSync(join(tmpdir(), 'kart-sign-publish-'));
  alice = opensslKeyPair(work, 'alice');
});
afterAll(async () => {
  await registry?.stop();
  rmSync(work, { recursive: true, force: true });
  rmSync(world.root, { recursive: true, force: true });
});

describe('publish --sign-key', () => {
  it('signs the platform manifest and every tag index; a second publish signs nothing again', async () => {
    const to = `${registry.host}/signed/zone`;
    const build = world.build({ release: '6.1.42-signed' });
    const options = { buildDir: build, flavor: world.flavor, to, signKey: alice.key };
    const first = await publishKernel(options);
    const indexes = [...new Set(first.tags.map((t) => t.next))];
    expect(first.tags.map((t) => t.tag).sort()).toEqual(
      ['6', '6.1', '6.1.42', expect.stringMatching(/^6\.1\.42-/), 'latest'].sort(),
    );
    expect(first.signatures?.map((s) => [s.subject.digest, s.action])).toEqual([
      [first.manifest.digest, 'signed'],
      ...indexes.map((digest) => [digest, 'signed']),
    ]);
    for (const tag of first.tags) {
      const verified = await verifyArtifact({ reference: `${to}:${tag.tag}`, keys: [alice.pub] });
      expect(verified.subject.digest).toBe(tag.next);
    }
    const byDigest = await verifyArtifact({ reference: `${to}@${first.manifest.digest}`, keys: [alice.pub] });
    expect(byDigest.signature.digest).toBe(first.signatures![0]!.signature.digest);

    const second = await publishKernel(options);
    expect(second.unchanged).toBe(true);
    expect(second.signatures?.map((s) => s.action)).toEqual(first.signatures?.map(() => 'present'));
    const repo = (await openReference(to)).target as Parameters<typeof listReferrers>[0];
    expect(await listReferrers(repo, first.manifest)).toHaveLength(1);
  });

  it('a key it cannot read refuses the publish before anything is pushed', async () => {
    const to = `${registry.host}/signed/refused`;
    const error = await kartErrorOf(
      publishKernel({
        buildDir: world.build({ release: '6.1.43-x' }),
        flavor: world.flavor,
        to,
        signKey: join(work, 'missing.key'),
      }),
    );
    expect([error.code, error.exitCode]).toEqual(['KEY_UNREADABLE', 2]);
    const tags = await runKart(['tags', to, '--json']);
    expect(tags.code).toBe(3);
    expect(JSON.parse(tags.stdout).error.code).toBe('NOT_FOUND');
  });

  it('kart publish --sign-key to a layout, then kart verify there', async () => {
    const layout = join(work, 'published');
    const run = await runKart([
      'publish',
      world.build({ release: '6.1.44-cli' }),
      '--flavor',
      world.flavor,
      '--to',
      `oci:${layout}`,
      '--sign-key',
      alice.key,
      '--json',
    ]);
    expect(run.code).toBe(0);
    const result = JSON.parse(run.stdout) as { signatures: { action: string }[] };
    expect(result.signatures.map((s) => s.action)).toEqual(['signed', 'signed']);
    const verify = await runKart(['verify', `oci:${layout}:6.1.44`, '--key', alice.pub]);
    expect(verify.code).toBe(0);
    expect(verify.stdout).toMatch(/^verified oci:.*:6\.1\.44 \(sha256:[0-9a-f]{64}\)\n {2}referrer sha256:/);
  });
});

describe('copy --referrers carries signatures', () => {
  it("kart's bundle and a legacy .sig go to another repository and into a layout, and verify there", async () => {
    const from = `${registry.host}/carry/src`;
    const published = await publishKernel({
      buildDir: world.build({ release: '6.1.45-carry' }),
      flavor: world.flavor,
      to: from,
      signKey: alice.key,
      noAlias: true,
    });
    const tag = '6.1.45';
    const root = published.tags.find((t) => t.tag === tag)!;
    // A legacy cosign signature of the platform manifest, beside kart's bundle referrers.
    const src = (await openReference(from, { access: 'push' })).target;
    const manifest = await src.resolve(published.manifest.digest);
    await storeOpensslLegacySignature(src, manifest, {
      dockerReference: from,
      keyPath: alice.key,
      dir: work,
    });

    const legacy = await src.resolve(legacySignatureTag(manifest.digest));
    const trust = await loadTrust({ keys: [alice.pub] });

    const layout = join(work, 'carried');
    for (const destination of [`${registry.host}/carry/dst:${tag}`, `oci:${layout}:${tag}`]) {
      const report = await copyReference(`${from}:${tag}`, destination, { referrers: true });
      expect(report.referrers).toHaveLength(3);
      const index = await verifyArtifact({ reference: destination, keys: [alice.pub] });
      expect([index.source, index.subject.digest]).toEqual(['referrer', root.next]);
      // The platform manifest has both kinds at the destination; each verifies on its own.
      const dst = (await openReference(destination)).target;
      const candidates = await findSignatures(dst, manifest);
      expect(candidates.map((c) => [c.source, c.manifest.digest])).toEqual([
        ['referrer', published.signatures![0]!.signature.digest],
        ['legacy-tag', legacy.digest],
      ]);
      for (const candidate of candidates) {
        const verified = await verifyCandidates(dst, [candidate], manifest, trust, dst.name);
        expect(verified.source).toBe(candidate.source);
      }
    }
  });
});
