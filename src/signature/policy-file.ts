import { readFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { KartError } from '../errors.ts';
import { parseReference } from '../oci/reference.ts';
import { array, optional, record, strictObject, string } from '../oci/json-shape.ts';
import { parseJson } from '../oci/schema.ts';
import type { TrustPolicy } from './trust-policy.ts';

/**
 * A trust policy file naming whom to trust per repository, for a launcher that pulls from several:
 *
 *   { "repositories": {
 *       "ghcr.io/edera-dev/zone-kernel": { "keys": ["edera.pub"] },
 *       "registry.example/kernels/*":    { "keyless": { "identity": "…", "issuer": "…", "trustedRoot": "root.json" } },
 *       "*":                              { "keys": ["fallback.pub"] } } }
 *
 * A repository takes its exact entry, else the longest `prefix/*` entry that holds it, else `*`; none
 * is TRUST_POLICY_NO_MATCH (nothing installs from a repository the policy does not name). Paths are
 * relative to the policy file.
 */
const EntrySchema = strictObject({
  keys: optional(array(string())),
  keyless: optional(strictObject({ identity: string(), issuer: string(), trustedRoot: string() })),
});
const PolicyFileSchema = strictObject({ repositories: record(EntrySchema) });

/** The policy for a reference's repository (`host/repo`, or `oci:DIR` for a layout). */
export type RepositoryPolicies = (reference: string) => TrustPolicy;

export async function readPolicyFile(path: string): Promise<RepositoryPolicies> {
  let bytes: Buffer;
  try {
    bytes = await readFile(path);
  } catch (error) {
    throw new KartError(
      'TRUST_POLICY_UNREADABLE',
      `${path}: cannot read it (${(error as NodeJS.ErrnoException).code ?? ''})`,
      {
        exitCode: 2,
        hint: 'check the --verify-policy path',
      },
    );
  }
  const file = parseJson(PolicyFileSchema, bytes, path);
  const base = dirname(resolve(path));
  return (reference) => {
    const parsed = parseReference(reference);
    const repository =
      parsed.kind === 'layout' ? `oci:${parsed.dir}` : `${parsed.registry}/${parsed.repository}`;
    const name = matchingEntry(Object.keys(file.repositories), repository);
    if (name === undefined) {
      throw new KartError('TRUST_POLICY_NO_MATCH', `${path} names no key or identity for ${repository}`, {
        exitCode: 1,
        hint: `add "${repository}" (or a "prefix/*" or "*" entry) to the policy's repositories`,
        details: { repository, policy: path },
      });
    }
    const entry = file.repositories[name]!;
    return {
      keys: (entry.keys ?? []).map((key) => resolve(base, key)),
      ...(entry.keyless === undefined
        ? {}
        : { keyless: { ...entry.keyless, trustedRoot: resolve(base, entry.keyless.trustedRoot) } }),
    };
  };
}

function matchingEntry(names: readonly string[], repository: string): string | undefined {
  if (names.includes(repository)) return repository;
  const prefixes = names
    .filter((name) => name.endsWith('/*') && repository.startsWith(name.slice(0, -1)))
    .sort((a, b) => b.length - a.length);
  return prefixes[0] ?? (names.includes('*') ? '*' : undefined);
}
