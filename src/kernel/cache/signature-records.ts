import { mkdir, readdir, readFile, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { writeFileAtomic } from '../../oci/atomic-file.ts';
import { digestAlgorithm, digestHex } from '../../oci/digest.ts';
import { array, object, oneOf } from '../../oci/json-shape.ts';
import { DescriptorSchema, parseJson, plainDescriptor, type Descriptor } from '../../oci/schema.ts';
import type { SignatureCandidate } from '../../signature/find-signatures.ts';

/**
 * The signatures that verified when a subject was cached, one file per subject
 * (`<cache>/signatures/<alg>-<hex>.json`): what `pull -k --offline --verify-key` checks again. The
 * referrer manifests and bundles they name are blobs of the cache, so `kart cache prune` keeps them as
 * long as their subject is kept (and drops the record with it).
 */
export const SIGNATURES_DIR = 'signatures';

const RecordSchema = object({
  subject: DescriptorSchema,
  signatures: array(object({ source: oneOf(['referrer', 'legacy-tag']), manifest: DescriptorSchema })),
});

export interface SignatureRecord {
  path: string;
  /** undefined: the file does not parse (it verifies nothing; prune removes it) */
  subject?: Descriptor;
  signatures: SignatureCandidate[];
}

function recordPath(cacheRoot: string, subject: Descriptor): string {
  const name = `${digestAlgorithm(subject.digest)}-${digestHex(subject.digest)}.json`;
  return join(cacheRoot, SIGNATURES_DIR, name);
}

/** The recorded signatures of `subject`; none when it was never verified here. */
export async function recordedSignatures(
  cacheRoot: string,
  subject: Descriptor,
): Promise<SignatureCandidate[]> {
  const path = recordPath(cacheRoot, subject);
  const bytes = await readFile(path).catch(() => undefined);
  if (bytes === undefined) return [];
  return parseJson(RecordSchema, bytes, path).signatures;
}

/** Records that `signature` verified for `subject` (first), keeping the others recorded before. */
export async function recordSignature(
  cacheRoot: string,
  subject: Descriptor,
  signature: SignatureCandidate,
): Promise<void> {
  const known = await recordedSignatures(cacheRoot, subject).catch(() => []);
  const signatures = [signature, ...known.filter((s) => s.manifest.digest !== signature.manifest.digest)];
  await mkdir(join(cacheRoot, SIGNATURES_DIR), { recursive: true });
  const document = {
    subject: plainDescriptor(subject),
    signatures,
  };
  await writeFileAtomic(recordPath(cacheRoot, subject), `${JSON.stringify(document, null, 2)}\n`);
}

/** Every record file, parsed where it parses. */
export async function listSignatureRecords(cacheRoot: string): Promise<SignatureRecord[]> {
  const dir = join(cacheRoot, SIGNATURES_DIR);
  const names = await readdir(dir).catch(() => [] as string[]);
  const records: SignatureRecord[] = [];
  for (const name of names.filter((n) => n.endsWith('.json')).sort()) {
    const path = join(dir, name);
    try {
      records.push({ path, ...parseJson(RecordSchema, await readFile(path), path) });
    } catch {
      records.push({ path, signatures: [] });
    }
  }
  return records;
}

export async function removeSignatureRecord(record: SignatureRecord): Promise<void> {
  await unlink(record.path).catch(() => undefined);
}
