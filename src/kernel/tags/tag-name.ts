import { KartError } from '../../errors.ts';

/** The distribution spec's tag grammar: registries refuse anything else, so kart refuses it first. */
const OCI_TAG = /^[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}$/;

export function isValidTag(tag: string): boolean {
  return OCI_TAG.test(tag);
}

/** Throws TAG_INVALID naming the tag and, in `what`, where it came from (e.g. "--tag", "template {version}-x"). */
export function assertValidTag(tag: string, what: string): void {
  if (isValidTag(tag)) return;
  throw new KartError('TAG_INVALID', `${what}: "${tag}" is not a valid OCI tag`, {
    exitCode: 2,
    hint: 'a tag is 1-128 characters of letters, digits, "_", "." and "-", and does not start with "." or "-"',
    details: { tag },
  });
}
