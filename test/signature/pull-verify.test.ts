/**
 * pull -k --verify-key against the real registry (distribution 2.8, behind a request-counting proxy):
 * a kernel installs only when a signature of its root or platform manifest verifies; each refusal
 * (another key, a signature over another digest, a tampered bundle, no signature, a re-pointed tag)
 * has its code, installs nothing and downloads no config or layer; kart.json records the signature;
 * --offline installs only what verified when it was cached.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pruneCache } from '../../src/kernel/cache/index.ts';
import { pullKernel } from '../../src/kernel/pull/index.ts';
import { fetchSuccessors } from '../../src/oci/successors.ts';
import { openLayout, type OciLayout } from '../../src/oci/layout.ts';
import type { Descriptor } from '../../src/oci/schema.ts';
import type { Target } from '../../src/oci/store.ts';
import { copyReference, openReference } from '../../src/registry/index.ts';
import {
  readPolicyFile,
  readSigningKey,
  signDescriptor,
  type SigningKey,
} from '../../src/signature/index.ts';
import { signStatement } from '../../src/signature/cosign-bundle.ts';
import { storeKernelTag } from '../kernel/pull/kernel-shapes.ts';
import { runKart } from '../support/kart-cli.ts';
import { kartErrorOf } from '../support/kart-error.ts';
import { startRegistry, type TestRegistry } from '../support/registry.ts';
import { attachTamperedSignature, opensslKeyPair, type KeyFiles } from './signature-fixtures.ts';

let registry: TestRegistry;
let work: string;
let layout: OciLayout;
let alice: KeyFiles;
let mallory: KeyFiles;
let aliceKey: SigningKey;
let repo: Target;

beforeAll(async () => {
  registry = await startRegistry({ countRequests: true });
  work = mkdtempSync(join(tmpdir(), 'kart-pull-verify-'));
  layout = await openLayout(join(work, 'layout'), { create: true });
  alice = opensslKeyPair(work, 'alice');
  mallory = opensslKeyPair(work, 'mallory');
  aliceKey = await readSigningKey(alice.key);
  repo = (await openReference(`${registry.host}/verified/kernel`, { access: 'push' })).target;
});
afterAll(async () => {
  await registry?.stop();
  rmSync(work, { recursive: true, force: true });
});

interface Published {
  ref: string;
  root: Descriptor;
  /** the linux/amd64 manifest and the config and layer blobs pull must not fetch before verifying */
  manifest: Descriptor;
  blobs: string[];
}

async function publish(tag: string): Promise<Published> {
  const root = await storeKernelTag(layout, tag, { arches: ['amd64'], release: `6.1.99-${tag}` });
  const ref = `${registry.host}/verified/kernel:${tag}`;
  await copyReference(`oci:${layout.root}:${tag}`, ref);
  const manifest = (await fetchSuccessors(layout, root)).find((m) => m.platform?.architecture === 'amd64')!;
  return { ref, root, manifest, blobs: (await fetchSuccessors(layout, manifest)).map((d) => d.digest) };
}

const cacheDir = (name: string) => join(work, `cache-${name}`);

async function refused(published: Published, name: string, keys = [alice.pub]): Promise<string> {
  const before = registry.requestLog!.length;
  const dest = join(work, `dest-${name}`);
  const error = await kartErrorOf(
    pullKernel({ reference: published.ref, dest, cacheDir: cacheDir(name), arch: 'amd64', verify: { keys } }),
  );
  expect(error.exitCode).toBe(1);
  expect(existsSync(dest)).toBe(false);
  const fetched = registry.requestLog!.slice(before).map((r) => r.path);
  for (const blob of published.blobs) expect(fetched.some((path) => path.includes(blob))).toBe(false);
  return error.code;
}

describe('pull -k --verify-key', () => {
  it('installs a kernel signed by a trusted key, records the signature in kart.json, and --offline re-checks it', async () => {
    const published = await publish('good');
    const signed = await signDescriptor(repo, published.root, aliceKey);
    const dest = join(work, 'dest-good');
    const before = registry.requestLog!.length;
    const result = await pullKernel({
      reference: published.ref,
      dest,
      cacheDir: cacheDir('good'),
      arch: 'amd64',
      verify: { keys: [mallory.pub, alice.pub] },
    });
    expect(result.installed).toBe(true);
    // The same log check the refusals rely on sees these blobs when a pull does fetch them.
    const fetched = registry.requestLog!.slice(before).map((r) => r.path);
    for (const blob of published.blobs) expect(fetched.some((path) => path.includes(blob))).toBe(true);
    expect(result.signature?.signature.digest).toBe(signed.signature.digest);
    expect(result.signature?.signer).toEqual({ kind: 'key', key: aliceKey.fingerprint, source: alice.pub });
    const kartJson = JSON.parse(readFileSync(join(dest, 'kart.json'), 'utf8')) as {
      signature: { subject: Descriptor; signature: Descriptor; source: string };
    };
    expect([
      kartJson.signature.subject.digest,
      kartJson.signature.signature.digest,
      kartJson.signature.source,
    ]).toEqual([published.root.digest, signed.signature.digest, 'referrer']);

    const offline = await pullKernel({
      reference: published.ref,
      dest: join(work, 'dest-good-offline'),
      cacheDir: cacheDir('good'),
      arch: 'amd64',
      offline: true,
      verify: { keys: [alice.pub] },
    });
    expect([offline.installed, offline.signature?.signature.digest]).toEqual([true, signed.signature.digest]);
    // Offline with a key that did not sign it: the cached signature is checked again, and refused.
    const other = await kartErrorOf(
      pullKernel({
        reference: published.ref,
        dest: join(work, 'dest-good-offline-mallory'),
        cacheDir: cacheDir('good'),
        arch: 'amd64',
        offline: true,
        verify: { keys: [mallory.pub] },
      }),
    );
    expect(other.code).toBe('SIGNATURE_INVALID');
    expect(existsSync(join(work, 'dest-good-offline-mallory'))).toBe(false);
  });

  it('cache prune keeps the signatures of kept kernels (--offline --verify-key still installs) and drops the others', async () => {
    const cache = cacheDir('prune');
    const pull = (dest: string, offline = false) =>
      pullKernel({
        reference: `${registry.host}/verified/kernel:prune`,
        dest: join(work, dest),
        cacheDir: cache,
        arch: 'amd64',
        offline,
        verify: { keys: [alice.pub] },
      });
    const first = await publish('prune');
    const firstSigned = await signDescriptor(repo, first.root, aliceKey);
    await pull('dest-prune-1');
    expect((await pruneCache(cache, 1)).removed).toEqual([]);
    const offline = await pull('dest-prune-1-offline', true);
    expect(offline.signature?.signature.digest).toBe(firstSigned.signature.digest);

    // The tag moves to another signed kernel; pruning to one digest drops the first and its record.
    const second = await storeKernelTag(layout, 'prune', { arches: ['amd64'], release: '6.1.99-prune-2' });
    await copyReference(`oci:${layout.root}:prune`, `${registry.host}/verified/kernel:prune`);
    const secondSigned = await signDescriptor(repo, second, aliceKey);
    await pull('dest-prune-2');
    const record = (subject: Descriptor) =>
      join(cache, 'signatures', `${subject.digest.replace(':', '-')}.json`);
    expect([existsSync(record(first.root)), existsSync(record(second))]).toEqual([true, true]);
    const pruned = (await pruneCache(cache, 1)).removed.map((blob) => blob.digest);
    expect(pruned).toContain(firstSigned.signature.digest);
    expect(pruned).toContain(firstSigned.bundle.digest);
    expect(pruned).not.toContain(secondSigned.bundle.digest);
    expect([existsSync(record(first.root)), existsSync(record(second))]).toEqual([false, true]);
    const again = await pull('dest-prune-2-offline', true);
    expect([again.manifestDigest !== offline.manifestDigest, again.signature?.signature.digest]).toEqual([
      true,
      secondSigned.signature.digest,
    ]);
  });

  it('accepts a signature of the platform manifest (what publish --sign-key also writes)', async () => {
    const published = await publish('manifest-signed');
    const signed = await signDescriptor(repo, published.manifest, aliceKey);
    const result = await pullKernel({
      reference: published.ref,
      dest: join(work, 'dest-manifest-signed'),
      cacheDir: cacheDir('manifest-signed'),
      arch: 'amd64',
      verify: { keys: [alice.pub] },
    });
    expect([result.signature?.subject.digest, result.signature?.signature.digest]).toEqual([
      published.manifest.digest,
      signed.signature.digest,
    ]);
  });

  it('refuses another key, another digest, a tampered bundle, no signature, a re-pointed tag: nothing fetched past the manifest', async () => {
    const unsigned = await publish('unsigned');
    expect(await refused(unsigned, 'unsigned')).toBe('SIGNATURE_MISSING');

    const otherKey = await publish('other-key');
    await signDescriptor(repo, otherKey.root, await readSigningKey(mallory.key));
    expect(await refused(otherKey, 'other-key')).toBe('SIGNATURE_INVALID');

    const otherDigest = await publish('other-digest');
    await signDescriptor(repo, otherDigest.root, aliceKey, {
      statement: signStatement(unsigned.root.digest),
    });
    expect(await refused(otherDigest, 'other-digest')).toBe('SIGNATURE_INVALID');

    const tampered = await publish('tampered');
    await attachTamperedSignature(repo, tampered.root, aliceKey, join(work, 'scratch'));
    expect(await refused(tampered, 'tampered')).toBe('SIGNATURE_INVALID');

    // The tag once named a signed kernel; now it names an unsigned one.
    const signed = await publish('repointed');
    await signDescriptor(repo, signed.root, aliceKey);
    const swapped = await storeKernelTag(layout, 'repointed', {
      arches: ['amd64'],
      release: '6.1.99-swapped',
    });
    await copyReference(`oci:${layout.root}:repointed`, signed.ref);
    const manifest = (await fetchSuccessors(layout, swapped)).find(
      (m) => m.platform?.architecture === 'amd64',
    )!;
    const repointed = {
      ...signed,
      root: swapped,
      manifest,
      blobs: (await fetchSuccessors(layout, manifest)).map((d) => d.digest),
    };
    expect(await refused(repointed, 'repointed')).toBe('SIGNATURE_MISSING');
  });

  it('--offline refuses a kernel that was cached without verification', async () => {
    const published = await publish('cached-unverified');
    await signDescriptor(repo, published.root, aliceKey);
    await pullKernel({
      reference: published.ref,
      dest: join(work, 'dest-cu'),
      cacheDir: cacheDir('cu'),
      arch: 'amd64',
    });
    const error = await kartErrorOf(
      pullKernel({
        reference: published.ref,
        dest: join(work, 'dest-cu-offline'),
        cacheDir: cacheDir('cu'),
        arch: 'amd64',
        offline: true,
        verify: { keys: [alice.pub] },
      }),
    );
    expect([error.code, error.exitCode]).toEqual(['SIGNATURE_MISSING', 1]);
    expect(error.message).toContain('was not verified when it was cached');
    expect(existsSync(join(work, 'dest-cu-offline'))).toBe(false);
  });

  it('kart pull -k --verify-key: exit 0 for a signed kernel, 1 with SIGNATURE_MISSING for an unsigned one', async () => {
    const published = await publish('cli');
    await signDescriptor(repo, published.root, aliceKey);
    const args = (ref: string, name: string) => [
      'pull',
      '-k',
      ref,
      '--dest',
      join(work, `dest-${name}`),
      '--cache',
      cacheDir(name),
      '--arch',
      'amd64',
      '--verify-key',
      alice.pub,
      '--json',
    ];
    const ok = await runKart(args(published.ref, 'cli'));
    expect(ok.code).toBe(0);
    expect(JSON.parse(ok.stdout).signature.source).toBe('referrer');
    const unsigned = await publish('cli-unsigned');
    const bad = await runKart(args(unsigned.ref, 'cli-unsigned'));
    expect([bad.code, JSON.parse(bad.stdout).error.code]).toEqual([1, 'SIGNATURE_MISSING']);
    expect(existsSync(join(work, 'dest-cli-unsigned'))).toBe(false);
  });

  it('--verify-policy: the exact repository entry, else the longest prefix/*, else *; a repository it does not name installs nothing', async () => {
    const published = await publish('policy');
    await signDescriptor(repo, published.root, aliceKey);
    const policy = (repositories: Record<string, unknown>): string => {
      const path = join(work, `policy-${Object.keys(repositories).length}-${Date.now()}.json`);
      writeFileSync(path, JSON.stringify({ repositories }));
      return path;
    };
    const host = registry.host;
    // Relative key paths are read beside the policy file.
    const prefixOnly = policy({
      [`${host}/verified/*`]: { keys: ['alice.pub'] },
      '*': { keys: ['mallory.pub'] },
    });
    const ok = await runKart([
      'pull',
      '-k',
      published.ref,
      '--dest',
      join(work, 'dest-policy'),
      '--cache',
      cacheDir('policy'),
      '--arch',
      'amd64',
      '--verify-policy',
      prefixOnly,
      '--json',
    ]);
    expect([ok.code, JSON.parse(ok.stdout).signature.signer.source]).toEqual([0, alice.pub]);

    const exactWins = await readPolicyFile(
      policy({
        [`${host}/verified/*`]: { keys: [alice.pub] },
        [`${host}/verified/kernel`]: { keys: [mallory.pub] },
      }),
    );
    expect(exactWins(published.ref).keys).toEqual([mallory.pub]);
    const elsewhere = await readPolicyFile(policy({ [`${host}/other/*`]: { keys: [alice.pub] } }));
    const unnamed = await kartErrorOf(async () => elsewhere(published.ref));
    expect([unnamed.code, unnamed.exitCode]).toEqual(['TRUST_POLICY_NO_MATCH', 1]);
    const cli = await runKart([
      'pull',
      '-k',
      published.ref,
      '--dest',
      join(work, 'dest-policy-none'),
      '--cache',
      cacheDir('policy'),
      '--arch',
      'amd64',
      '--verify-policy',
      policy({ [`${host}/other/*`]: { keys: [alice.pub] } }),
      '--json',
    ]);
    expect([cli.code, JSON.parse(cli.stdout).error.code]).toEqual([1, 'TRUST_POLICY_NO_MATCH']);
    expect(existsSync(join(work, 'dest-policy-none'))).toBe(false);
  });
});
