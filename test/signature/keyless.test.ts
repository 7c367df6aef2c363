/**
 * Keyless verification (what linux-kernel-oci's `cosign sign` in CI produces), proven offline with
 * @sigstore/mock: its Fulcio CA (with a CT log) issues the signing certificate and its Rekor log
 * records the entry, both served on 127.0.0.1 and reached by sigstore-js's own FulcioSigner and
 * RekorWitness. kart then verifies against a trusted_root.json naming that CA and those logs.
 */
import { createHash, generateKeyPairSync, X509Certificate } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HashAlgorithm, PublicKeyDetails, TrustedRoot } from '@sigstore/protobuf-specs';
import { FulcioSigner, RekorWitness } from '@sigstore/sign';
import {
  fulcioHandler,
  initializeCA,
  initializeCTLog,
  initializeTLog,
  rekorHandler,
  type HandlerFn,
} from '@sigstore/mock';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openLayout, type OciLayout } from '../../src/oci/layout.ts';
import type { Descriptor } from '../../src/oci/schema.ts';
import { signDescriptor, verifyArtifact } from '../../src/signature/index.ts';
import { storeKernelTag } from '../kernel/pull/kernel-shapes.ts';
import { fetchBytes } from '../../src/oci/manifest-io.ts';
import { readSigningKey } from '../../src/signature/keys.ts';
import { runKart } from '../support/kart-cli.ts';
import { opensslKeyPair, simpleSigningPayload, storeLegacySignature } from './signature-fixtures.ts';
import { kartErrorOf } from '../support/kart-error.ts';

const IDENTITY = 'https://github.com/edera-dev/linux-kernel-oci/.github/workflows/build.yaml@refs/heads/main';
const ISSUER = 'https://token.actions.githubusercontent.com';

let work: string;
let layout: OciLayout;
let server: Server;
let trustedRoot: string;
let signed: Descriptor;
let url: string;
let fulcio: FulcioSigner;
let caRoot: Uint8Array;

/** An unsigned JWT: the mock Fulcio reads its claims (sub → SAN, iss → issuer extension). */
function identityToken(): string {
  const part = (value: object) => Buffer.from(JSON.stringify(value)).toString('base64url');
  return `${part({ alg: 'none' })}.${part({ sub: IDENTITY, iss: ISSUER, aud: 'sigstore' })}.`;
}

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'kart-keyless-'));
  layout = await openLayout(join(work, 'layout'), { create: true });
  const pair = () => generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  const ctlog = await initializeCTLog(pair());
  const ca = await initializeCA(pair(), ctlog);
  const tlog = await initializeTLog('https://rekor.sigstore.dev', pair());
  const handlers = new Map<string, HandlerFn>(
    [fulcioHandler(ca), rekorHandler(tlog)].map((handler) => [handler.path, handler.fn]),
  );
  server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const fn = handlers.get(request.url ?? '');
      if (fn === undefined) return void response.writeHead(404).end();
      void fn(Buffer.concat(chunks).toString()).then((result) => {
        response.writeHead(result.statusCode, { 'content-type': result.contentType ?? 'application/json' });
        response.end(result.response);
      });
    });
  });
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  const start = new Date(Date.now() - 60_000);
  const root = TrustedRoot.toJSON({
    mediaType: 'application/vnd.dev.sigstore.trustedroot+json;version=0.1',
    certificateAuthorities: [
      {
        subject: { commonName: 'sigstore', organization: 'sigstore.mock' },
        uri: url,
        certChain: { certificates: [{ rawBytes: Buffer.from(ca.rootCertificate.buffer) }] },
        validFor: { start },
        operator: 'sigstore.mock',
      },
    ],
    tlogs: [
      {
        baseUrl: 'https://rekor.sigstore.dev',
        logId: { keyId: createHash('sha256').update(tlog.publicKey).digest() },
        hashAlgorithm: HashAlgorithm.SHA2_256,
        publicKey: {
          rawBytes: tlog.publicKey,
          keyDetails: PublicKeyDetails.PKIX_ECDSA_P256_SHA_256,
          validFor: { start },
        },
        checkpointKeyId: undefined,
        operator: 'sigstore.mock',
      },
    ],
    ctlogs: [
      {
        baseUrl: 'https://ctfe.sigstore.dev',
        logId: { keyId: Buffer.from(ctlog.logID.buffer) },
        hashAlgorithm: HashAlgorithm.SHA2_256,
        publicKey: {
          rawBytes: ctlog.publicKey,
          keyDetails: PublicKeyDetails.PKIX_ECDSA_P256_SHA_256,
          validFor: { start },
        },
        checkpointKeyId: undefined,
        operator: 'sigstore.mock',
      },
    ],
    timestampAuthorities: [],
  });
  trustedRoot = join(work, 'trusted_root.json');
  writeFileSync(trustedRoot, JSON.stringify(root));

  caRoot = Buffer.from(ca.rootCertificate.buffer);
  fulcio = new FulcioSigner({
    fulcioBaseURL: url,
    identityProvider: { getToken: async () => identityToken() },
  });
  signed = await storeKernelTag(layout, 'keyless', { arches: ['amd64'], release: '6.1.99-keyless' });
  await signDescriptor(layout, signed, undefined, {
    signer: fulcio,
    witnesses: [new RekorWitness({ rekorBaseURL: url, entryType: 'intoto' })],
  });
});
afterAll(async () => {
  await new Promise((done) => server?.close(done));
  rmSync(work, { recursive: true, force: true });
});

describe('a key signature witnessed by Rekor (cosign sign --key with its default tlog upload)', () => {
  it('verifies with the key alone, the tlog entry set aside; another key is refused in sigstore-js words', async () => {
    const keys = opensslKeyPair(work, 'rekor-key');
    const other = opensslKeyPair(work, 'rekor-other');
    const subject = await storeKernelTag(layout, 'key-rekor', { arches: ['amd64'], release: '6.1.99-rekor' });
    const written = await signDescriptor(layout, subject, await readSigningKey(keys.key), {
      witnesses: [new RekorWitness({ rekorBaseURL: url, entryType: 'dsse' })],
    });
    const bundle = JSON.parse((await fetchBytes(layout, written.bundle)).toString('utf8'));
    expect(bundle.verificationMaterial.tlogEntries).toHaveLength(1);

    const verified = await verifyArtifact({ reference: `oci:${layout.root}:key-rekor`, keys: [keys.pub] });
    expect([verified.subject.digest, verified.signature.digest]).toEqual([
      subject.digest,
      written.signature.digest,
    ]);
    expect(verified.signer.kind).toBe('key');

    const refused = await kartErrorOf(
      verifyArtifact({ reference: `oci:${layout.root}:key-rekor`, keys: [other.pub] }),
    );
    expect([refused.code, refused.details?.reasons]).toEqual([
      'SIGNATURE_INVALID',
      [
        `${written.signature.digest} (referrer): not signed by a trusted key (SIGNATURE_ERROR: signature verification failed)`,
      ],
    ]);
  });
});

describe('keyless verification against a trusted root, offline', () => {
  it('verifies the identity and issuer the certificate names, with the CA and logs of the root', async () => {
    const verified = await verifyArtifact({
      reference: `oci:${layout.root}:keyless`,
      keyless: { trustedRoot, identity: IDENTITY, issuer: ISSUER },
    });
    expect(verified.subject.digest).toBe(signed.digest);
    expect(verified.signer).toEqual({ kind: 'certificate', identity: IDENTITY, issuer: ISSUER });
  });

  it("verifies cosign v2's legacy keyless .sig (certificate, chain and Rekor bundle annotations)", async () => {
    const subject = await storeKernelTag(layout, 'legacy-keyless', {
      arches: ['amd64'],
      release: '6.1.99-legacy-keyless',
    });
    const payload = simpleSigningPayload('registry.example/kernels/zone-kernel', subject.digest);
    const signed = await fulcio.sign(payload);
    const certificate = (signed.key as { certificate: string }).certificate;
    const digest = createHash('sha256').update(payload).digest();
    const { tlogEntries } = await new RekorWitness({ rekorBaseURL: url }).testify(
      {
        $case: 'messageSignature',
        messageSignature: {
          messageDigest: { algorithm: HashAlgorithm.SHA2_256, digest },
          signature: signed.signature,
        },
      },
      certificate,
    );
    const entry = tlogEntries[0]!;
    // cosign v2's `bundle` annotation: the Rekor entry and its SET, as Rekor's API returned them.
    const rekorBundle = {
      SignedEntryTimestamp: Buffer.from(entry.inclusionPromise!.signedEntryTimestamp).toString('base64'),
      Payload: {
        body: Buffer.from(entry.canonicalizedBody).toString('base64'),
        integratedTime: Number(entry.integratedTime),
        logIndex: Number(entry.logIndex),
        logID: Buffer.from(entry.logId!.keyId).toString('hex'),
      },
    };
    const annotations = {
      'dev.sigstore.cosign/certificate': certificate,
      'dev.sigstore.cosign/chain': new X509Certificate(Buffer.from(caRoot)).toString(),
      'dev.sigstore.cosign/bundle': JSON.stringify(rekorBundle),
    };
    const sig = await storeLegacySignature(
      layout,
      subject,
      payload,
      signed.signature.toString('base64'),
      annotations,
    );
    const reference = `oci:${layout.root}:legacy-keyless`;
    const verified = await verifyArtifact({
      reference,
      keyless: { trustedRoot, identity: IDENTITY, issuer: ISSUER },
    });
    expect([verified.source, verified.signature.digest, verified.signer]).toEqual([
      'legacy-tag',
      sig.digest,
      { kind: 'certificate', identity: IDENTITY, issuer: ISSUER },
    ]);

    const other = await kartErrorOf(
      verifyArtifact({ reference, keyless: { trustedRoot, identity: `${IDENTITY}-other`, issuer: ISSUER } }),
    );
    expect(other.details?.reasons).toEqual([
      expect.stringMatching(
        / layer sha256:[0-9a-f]{64} the certificate does not verify for the trusted identity \(UNTRUSTED_SIGNER_ERROR: /,
      ),
    ]);
    // The same signature with a SET that does not match its entry (another logIndex), re-tagged.
    const forged = {
      ...rekorBundle,
      Payload: { ...rekorBundle.Payload, logIndex: rekorBundle.Payload.logIndex + 1 },
    };
    await storeLegacySignature(layout, subject, payload, signed.signature.toString('base64'), {
      ...annotations,
      'dev.sigstore.cosign/bundle': JSON.stringify(forged),
    });
    const refused = await kartErrorOf(
      verifyArtifact({ reference, keyless: { trustedRoot, identity: IDENTITY, issuer: ISSUER } }),
    );
    expect([refused.code, String(refused.details?.reasons)]).toEqual([
      'SIGNATURE_INVALID',
      expect.stringMatching(
        /the certificate does not verify for the trusted identity \(TLOG_INCLUSION_PROMISE_ERROR: /,
      ),
    ]);
  });

  it('refuses another identity, another issuer, and a key-only policy', async () => {
    for (const keyless of [
      {
        trustedRoot,
        identity: 'https://github.com/someone/else/.github/workflows/x.yaml@refs/heads/main',
        issuer: ISSUER,
      },
      { trustedRoot, identity: IDENTITY, issuer: 'https://accounts.google.com' },
    ]) {
      const error = await kartErrorOf(verifyArtifact({ reference: `oci:${layout.root}:keyless`, keyless }));
      expect([error.code, error.exitCode]).toEqual(['SIGNATURE_INVALID', 1]);
      expect(error.message).toMatch(/certificate does not verify for the trusted identity/);
    }
  });

  it('kart verify --certificate-identity … --trusted-root exits 0; a partial set of flags is a usage error', async () => {
    const ok = await runKart([
      'verify',
      `oci:${layout.root}:keyless`,
      '--certificate-identity',
      IDENTITY,
      '--certificate-oidc-issuer',
      ISSUER,
      '--trusted-root',
      trustedRoot,
      '--json',
    ]);
    expect(ok.code).toBe(0);
    expect(JSON.parse(ok.stdout).signer).toEqual({ kind: 'certificate', identity: IDENTITY, issuer: ISSUER });
    const partial = await runKart([
      'verify',
      `oci:${layout.root}:keyless`,
      '--certificate-identity',
      IDENTITY,
    ]);
    expect(partial.code).toBe(2);
    expect(partial.stderr).toContain(
      '--certificate-identity, --certificate-oidc-issuer and --trusted-root together',
    );
    const badRoot = join(work, 'bad-root.json');
    writeFileSync(badRoot, '{"mediaType":"x"}');
    const bad = await runKart([
      'verify',
      `oci:${layout.root}:keyless`,
      '--certificate-identity',
      IDENTITY,
      '--certificate-oidc-issuer',
      ISSUER,
      '--trusted-root',
      badRoot,
      '--json',
    ]);
    expect([bad.code, JSON.parse(bad.stdout).error.code]).toEqual([2, 'TRUSTED_ROOT_INVALID']);
  });
});
