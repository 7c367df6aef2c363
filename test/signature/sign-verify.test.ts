/**
 * kart sign / verify as library calls, in a layout and on the real registry (distribution 2.8: no
 * referrers API, so the `sha256-<hex>` fallback index): the referrer manifest's exact shape, an
 * independent @sigstore/verify check of kart's bundle, a legacy `.sig` made with openssl, and each
 * refusal with its code.
 */
import { spawnSync } from 'node:child_process';
import { createPublicKey } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { bundleFromJSON } from '@sigstore/bundle';
import { toSignedEntity, Verifier } from '@sigstore/verify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fetchBytes } from '../../src/oci/manifest-io.ts';
import { openLayout, type OciLayout } from '../../src/oci/layout.ts';
import type { Descriptor } from '../../src/oci/schema.ts';
import { copyReference, openReference } from '../../src/registry/index.ts';
import type { RepositoryStore } from '../../src/registry/repository.ts';
import {
  generateKeyPair,
  readSigningKey,
  signArtifact,
  signDescriptor,
  verifyArtifact,
} from '../../src/signature/index.ts';
import { signStatement } from '../../src/signature/cosign-bundle.ts';
import { storeKernelTag } from '../kernel/pull/kernel-shapes.ts';
import { KART, runKart } from '../support/kart-cli.ts';
import { kartErrorOf } from '../support/kart-error.ts';
import { startRegistry, type TestRegistry } from '../support/registry.ts';
import {
  attachTamperedSignature,
  cosignKeyFile,
  opensslKeyPair,
  storeOpensslLegacySignature,
  type KeyFiles,
} from './signature-fixtures.ts';

let registry: TestRegistry;
let work: string;
let layout: OciLayout;
let alice: KeyFiles;
let mallory: KeyFiles;

beforeAll(async () => {
  registry = await startRegistry();
  work = mkdtempSync(join(tmpdir(), 'kart-sign-'));
  layout = await openLayout(join(work, 'layout'), { create: true });
  alice = opensslKeyPair(work, 'alice');
  mallory = opensslKeyPair(work, 'mallory', 'sec1');
});
afterAll(async () => {
  await registry?.stop();
  rmSync(work, { recursive: true, force: true });
});

const EMPTY_DIGEST = 'sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a';
const BUNDLE_TYPE = 'application/vnd.dev.sigstore.bundle.v0.3+json';

function kernel(tag: string): Promise<Descriptor> {
  // A release of its own, so no two tags share a digest (and so a signature).
  return storeKernelTag(layout, tag, { arches: ['amd64'], release: `6.1.99-${tag}` });
}

async function onRegistry(tag: string): Promise<{ ref: string; root: Descriptor }> {
  const root = await kernel(tag);
  const ref = `${registry.host}/signed/kernel:${tag}`;
  await copyReference(`oci:${layout.root}:${tag}`, ref);
  return { ref, root };
}

async function repository(): Promise<RepositoryStore> {
  return (await openReference(`${registry.host}/signed/kernel`, { access: 'push' }))
    .target as RepositoryStore;
}

describe('sign → verify in a layout', () => {
  it('writes the referrer cosign 3 writes, lists it under the fallback tag, and verifies', async () => {
    const root = await kernel('layout-ok');
    const now = new Date('2026-12-01T10:20:30.456Z');
    const signed = await signArtifact({ reference: `oci:${layout.root}:layout-ok`, key: alice.key, now });
    expect(signed.subject).toEqual({ mediaType: root.mediaType, digest: root.digest, size: root.size });

    const manifest = JSON.parse((await fetchBytes(layout, signed.signature)).toString()) as unknown;
    expect(manifest).toEqual({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      artifactType: BUNDLE_TYPE,
      config: {
        mediaType: 'application/vnd.oci.empty.v1+json',
        digest: EMPTY_DIGEST,
        size: 2,
        artifactType: BUNDLE_TYPE,
      },
      layers: [{ mediaType: BUNDLE_TYPE, digest: signed.bundle.digest, size: signed.bundle.size }],
      subject: { mediaType: root.mediaType, digest: root.digest, size: root.size },
      annotations: {
        'dev.sigstore.bundle.content': 'dsse-envelope',
        'dev.sigstore.bundle.predicateType': 'https://sigstore.dev/cosign/sign/v1',
        'org.opencontainers.image.created': '2026-12-01T10:20:30Z',
      },
    });
    const fallback = await layout.resolve(root.digest.replace(':', '-'));
    const index = JSON.parse((await fetchBytes(layout, fallback)).toString()) as { manifests: unknown[] };
    expect(index.manifests).toEqual([
      {
        mediaType: 'application/vnd.oci.image.manifest.v1+json',
        digest: signed.signature.digest,
        size: signed.signature.size,
        artifactType: BUNDLE_TYPE,
        annotations: (manifest as { annotations: unknown }).annotations,
      },
    ]);

    const verified = await verifyArtifact({ reference: `oci:${layout.root}:layout-ok`, keys: [alice.pub] });
    expect(verified.source).toBe('referrer');
    expect(verified.signature.digest).toBe(signed.signature.digest);
    expect(verified.signer).toEqual({ kind: 'key', key: signed.key, source: alice.pub });
    expect(verified.subject.digest).toBe(root.digest);
  });

  it("kart's bundle verifies with @sigstore/verify directly, and its statement names the digest", async () => {
    const root = await kernel('independent');
    const signed = await signArtifact({ reference: `oci:${layout.root}:independent`, key: alice.key });
    const json = JSON.parse((await fetchBytes(layout, signed.bundle)).toString()) as Record<string, unknown>;
    expect(json.mediaType).toBe(BUNDLE_TYPE);
    const bundle = bundleFromJSON(json);
    const publicKey = createPublicKey(readFileSync(alice.pub));
    const verifier = new Verifier(
      {
        certificateAuthorities: [],
        timestampAuthorities: [],
        tlogs: [],
        ctlogs: [],
        publicKey: () => ({ publicKey, validFor: () => true }),
      },
      { tlogThreshold: 0, ctlogThreshold: 0, timestampThreshold: 0 },
    );
    expect(() => verifier.verify(toSignedEntity(bundle))).not.toThrow();
    if (bundle.content.$case !== 'dsseEnvelope') throw new Error('not DSSE');
    expect(bundle.content.dsseEnvelope.payloadType).toBe('application/vnd.in-toto+json');
    expect(JSON.parse(bundle.content.dsseEnvelope.payload.toString())).toEqual({
      _type: 'https://in-toto.io/Statement/v1',
      subject: [{ digest: { sha256: root.digest.slice('sha256:'.length) } }],
      predicateType: 'https://sigstore.dev/cosign/sign/v1',
      predicate: {},
    });
    // Another key does not verify it (the check above can fail).
    const other = createPublicKey(readFileSync(mallory.pub));
    const wrong = new Verifier(
      {
        certificateAuthorities: [],
        timestampAuthorities: [],
        tlogs: [],
        ctlogs: [],
        publicKey: () => ({ publicKey: other, validFor: () => true }),
      },
      { tlogThreshold: 0, ctlogThreshold: 0, timestampThreshold: 0 },
    );
    expect(() => wrong.verify(toSignedEntity(bundle))).toThrow(/signature/i);
  });

  it('refuses a different key, another digest, a tampered bundle and an unsigned kernel', async () => {
    const root = await kernel('layout-bad');
    const ref = `oci:${layout.root}:layout-bad`;
    expect((await kartErrorOf(verifyArtifact({ reference: ref, keys: [alice.pub] }))).code).toBe(
      'SIGNATURE_MISSING',
    );
    await signArtifact({ reference: ref, key: mallory.key });
    const otherKey = await kartErrorOf(verifyArtifact({ reference: ref, keys: [alice.pub] }));
    expect([otherKey.code, otherKey.exitCode]).toEqual(['SIGNATURE_INVALID', 1]);
    expect(otherKey.message).toMatch(/not signed by a trusted key/);

    const key = await readSigningKey(alice.key);
    const otherDigest = `sha256:${'ab'.repeat(32)}` as const;
    await signDescriptor(layout, root, key, { statement: signStatement(otherDigest) });
    const wrongSubject = await kartErrorOf(verifyArtifact({ reference: ref, keys: [alice.pub] }));
    expect(wrongSubject.code).toBe('SIGNATURE_INVALID');
    expect(wrongSubject.message).toContain(`signs ${otherDigest}, not ${root.digest}`);

    const tamperedRoot = await kernel('tampered');
    await attachTamperedSignature(layout, tamperedRoot, key, join(work, 'scratch'));
    const tampered = await kartErrorOf(
      verifyArtifact({ reference: `oci:${layout.root}:tampered`, keys: [alice.pub] }),
    );
    expect(tampered.code).toBe('SIGNATURE_INVALID');
    expect(tampered.details?.reasons).toEqual([
      expect.stringMatching(
        /: not signed by a trusted key \(SIGNATURE_ERROR: signature verification failed\)$/,
      ),
    ]);
  });

  it("keys: SEC1 PEM, cosign's encrypted key file (with its password only), RSA refused, generate never overwrites", async () => {
    const generated = await generateKeyPair(join(work, 'gen'));
    expect(readFileSync(generated.privateKeyPath, 'utf8')).toMatch(/^-----BEGIN PRIVATE KEY-----/);
    expect(readFileSync(generated.publicKeyPath, 'utf8')).toMatch(/^-----BEGIN PUBLIC KEY-----/);
    expect((await kartErrorOf(generateKeyPair(join(work, 'gen')))).code).toBe('KEY_EXISTS');
    expect((await readSigningKey(mallory.key)).fingerprint).toMatch(/^sha256:[0-9a-f]{64}$/);
    const cosignKey = cosignKeyFile(work, alice.key, 'correct horse');
    const alicePrint = (await readSigningKey(alice.key)).fingerprint;
    expect((await readSigningKey(cosignKey, 'correct horse')).fingerprint).toBe(alicePrint);
    const wrong = await kartErrorOf(readSigningKey(cosignKey, 'battery staple'));
    expect([wrong.code, wrong.exitCode]).toEqual(['KEY_PASSWORD_WRONG', 2]);
    expect((await kartErrorOf(readSigningKey(cosignKey, undefined))).code).toBe('KEY_PASSWORD_MISSING');
    expect((await readSigningKey(cosignKeyFile(work, alice.key, ''), '')).fingerprint).toBe(alicePrint);
    const rsa = join(work, 'rsa.key');
    const { execFileSync } = await import('node:child_process');
    execFileSync(
      'openssl',
      ['genpkey', '-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:1024', '-out', rsa],
      { stdio: 'ignore' },
    );
    expect((await kartErrorOf(readSigningKey(rsa))).code).toBe('KEY_UNSUPPORTED');
  });
});

describe('sign → verify on distribution 2.8 (fallback tag)', () => {
  it('signs, lists the signature under sha256-<hex>, verifies; a re-pointed tag is unsigned', async () => {
    const { ref, root } = await onRegistry('reg-ok');
    const signed = await signArtifact({ reference: ref, key: alice.key });
    const repo = await repository();
    const fallback = await repo.resolve(root.digest.replace(':', '-'));
    const index = JSON.parse((await fetchBytes(repo, fallback)).toString()) as { manifests: Descriptor[] };
    expect(index.manifests.map((m) => [m.digest, m.artifactType])).toEqual([
      [signed.signature.digest, BUNDLE_TYPE],
    ]);
    const verified = await verifyArtifact({ reference: ref, keys: [mallory.pub, alice.pub] });
    expect([verified.source, verified.signature.digest, verified.signer]).toEqual([
      'referrer',
      signed.signature.digest,
      { kind: 'key', key: signed.key, source: alice.pub },
    ]);

    const other = await kernel('reg-other');
    await copyReference(`oci:${layout.root}:reg-other`, ref);
    const repointed = await kartErrorOf(verifyArtifact({ reference: ref, keys: [alice.pub] }));
    expect([repointed.code, repointed.exitCode]).toEqual(['SIGNATURE_MISSING', 1]);
    expect(repointed.message).toContain(other.digest);
  });

  it('verifies a legacy .sig made with openssl over a simple-signing payload, and only for its digest', async () => {
    const { ref, root } = await onRegistry('legacy');
    const repo = await repository();
    const signing = { dockerReference: `${registry.host}/signed/kernel`, keyPath: alice.key, dir: work };
    const legacy = await storeOpensslLegacySignature(repo, root, signing);
    const verified = await verifyArtifact({ reference: ref, keys: [alice.pub] });
    expect([verified.source, verified.signature.digest]).toEqual(['legacy-tag', legacy.digest]);
    expect((await kartErrorOf(verifyArtifact({ reference: ref, keys: [mallory.pub] }))).code).toBe(
      'SIGNATURE_INVALID',
    );

    // The same kind of signature, but over another digest, stored under this digest's .sig tag.
    const { ref: ref2, root: root2 } = await onRegistry('legacy-other');
    await storeOpensslLegacySignature(repo, root2, { ...signing, signedDigest: root.digest });
    const wrong = await kartErrorOf(verifyArtifact({ reference: ref2, keys: [alice.pub] }));
    expect(wrong.code).toBe('SIGNATURE_INVALID');
    expect(wrong.message).toContain(`signs ${root.digest}, not ${root2.digest}`);
  });

  it('a registry that cannot be reached is exit 3, not a verdict', async () => {
    const error = await kartErrorOf(
      verifyArtifact({ reference: '127.0.0.1:9/none/kernel:x', keys: [alice.pub] }),
    );
    expect(error.exitCode).toBe(3);
  });
});

describe('the CLI: kart key generate, kart sign, kart verify and their exit codes', () => {
  it('0 when verified, 1 SIGNATURE_INVALID / SIGNATURE_MISSING, 3 for the registry; a cosign.key signs with COSIGN_PASSWORD', async () => {
    const { ref } = await onRegistry('cli');
    const prefix = join(work, 'cli-key');
    expect((await runKart(['key', 'generate', prefix])).code).toBe(0);
    const sign = await runKart(['sign', ref, '--key', `${prefix}.key`, '--json']);
    expect(sign.code).toBe(0);
    const signed = JSON.parse(sign.stdout) as { signature: { digest: string } };
    const ok = await runKart(['verify', ref, '--key', `${prefix}.pub`]);
    expect([ok.code, ok.stdout.split('\n')[1]]).toEqual([
      0,
      expect.stringContaining(`referrer ${signed.signature.digest} signed by key sha256:`),
    ]);
    const invalid = await runKart(['verify', ref, '--key', mallory.pub, '--json']);
    expect([invalid.code, JSON.parse(invalid.stdout).error.code]).toEqual([1, 'SIGNATURE_INVALID']);
    const { ref: unsigned } = await onRegistry('cli-unsigned');
    const missing = await runKart(['verify', unsigned, '--key', alice.pub, '--json']);
    expect([missing.code, JSON.parse(missing.stdout).error.code]).toEqual([1, 'SIGNATURE_MISSING']);
    const down = await runKart(['verify', '127.0.0.1:9/none/kernel:x', '--key', alice.pub]);
    expect(down.code).toBe(3);
    const noKey = await runKart(['verify', ref]);
    expect([noKey.code, noKey.stderr]).toEqual([2, expect.stringContaining('verification needs a key')]);

    const cosignKey = cosignKeyFile(work, alice.key, 's3cret');
    const env = { ...process.env, COSIGN_PASSWORD: 's3cret' };
    expect((await runKart(['sign', unsigned, '--key', cosignKey], { env })).code).toBe(0);
    expect((await runKart(['verify', unsigned, '--key', alice.pub])).code).toBe(0);
    // Without the variable and without a terminal there is no one to ask: refused, exit 2.
    const { COSIGN_PASSWORD: _a, KART_KEY_PASSWORD: _b, ...bare } = process.env;
    const noPassword = await runKart(['sign', unsigned, '--key', cosignKey, '--json'], { env: bare });
    expect([noPassword.code, JSON.parse(noPassword.stdout).error.code]).toEqual([2, 'KEY_PASSWORD_MISSING']);
  });

  it('on a terminal, kart sign asks for the password of an encrypted key', async () => {
    const { ref } = await onRegistry('prompt');
    const cosignKey = cosignKeyFile(work, alice.key, 'typed at a prompt');
    const { COSIGN_PASSWORD: _a, KART_KEY_PASSWORD: _b, ...bare } = process.env;
    // script(1) gives kart a pseudo-terminal; the password arrives as typed keys.
    const command = [process.execPath, KART, 'sign', ref, '--key', cosignKey].map((a) => `'${a}'`).join(' ');
    const run = spawnSync('script', ['-qec', command, '/dev/null'], {
      input: 'typed at a prompt\r',
      env: bare,
      encoding: 'utf8',
    });
    expect(run.status).toBe(0);
    // The terminal itself echoes keys typed ahead of the prompt (script sends them at once), so this
    // shows only that kart prints nothing of the password after asking.
    const afterPrompt = run.stdout.split('Enter password for private key: ')[1] ?? '';
    expect(afterPrompt).not.toBe('');
    expect(afterPrompt).not.toContain('typed at a prompt');
    expect(run.stdout).toMatch(/signed .*:prompt \(sha256:[0-9a-f]{64}\)/);
  });
});
