/**
 * Kernel versions as they appear in tags, and kernel version order.
 *
 * Grammar: `NUM(.NUM){0,3}` then an optional prerelease `-rcN`, then an optional variant `-REST`:
 *   6            a major alias          (1 numeric part)
 *   6.1          a series alias         (2 parts)
 *   6.1.10       a release              (3 parts; 2.6.32.71-style 4-part releases also parse)
 *   7.3.0-rc3    a prerelease of 7.3.0  (sorts before 7.3.0)
 *   6.18.44-nvidia-595.91.07   a *variant* of 6.18.44
 *
 * What a variant means (the decision, since tags carry no schema): the text after the version is a
 * separate line of builds, not a prerelease and not a newer or older 6.18.44. krata publishes its
 * NVIDIA builds this way (`6.18.44-nvidia-595.91.07`, `6.18-nvidia-…`, `6-nvidia-…`), Kata appends its
 * config version (`6.1.10-83`), LinuxKit a tree hash (`6.6.13-<hash>`), and kart's own immutable tags
 * are `V-<config12>`: all of these are "V plus something", and none of them may take the plain `6.18`,
 * `6` or `latest`, or a user asking for `6` could get a GPU build or a pinned duplicate. So the tag
 * policy compares a version only with versions of the *same* variant (see policy.ts), and a variant's
 * aliases carry the variant as a suffix.
 *
 * Not the `semver` package: kernel versions are not semver. `6.1` and `6` are valid tags (semver
 * wants three parts), `6.1.0-rc3` vs `6.1-rc3` name the same prerelease, and a variant suffix is not
 * a semver prerelease (semver would sort `6.18.44-nvidia` *before* 6.18.44).
 *
 * Anything else (`latest`, `stable`, `v6.1`, `6.1.x`, `06.1`) is not a version: parse returns undefined
 * and the tag policy ignores the tag.
 */
export interface KernelVersion {
  /** The text it was parsed from, e.g. `7.3.0-rc3`. */
  readonly text: string;
  /** The numeric parts, e.g. [7, 3, 0]. */
  readonly numbers: readonly number[];
  /** The rc number of a prerelease (`-rc3` → 3), else undefined. */
  readonly rc: number | undefined;
  /** What follows the version and prerelease, without its leading `-` (`nvidia-595.91.07`), else undefined. */
  readonly variant: string | undefined;
}

// Leading zeros are refused so that one number has one spelling (`6.01` would otherwise equal `6.1`).
const NUMBER = '(?:0|[1-9][0-9]{0,5})';
const VERSION = new RegExp(
  `^(${NUMBER}(?:\\.${NUMBER}){0,3})(?:-rc(${NUMBER}))?(?:-([a-zA-Z0-9_][a-zA-Z0-9._-]*))?$`,
);

/** Parses a tag-style kernel version; undefined when the text is not one. Never throws. */
export function parseKernelVersion(text: string): KernelVersion | undefined {
  if (text.length > 128) return undefined;
  const match = VERSION.exec(text);
  if (!match) return undefined;
  const [, numeric, rc, variant] = match;
  return {
    text,
    numbers: (numeric ?? '').split('.').map(Number),
    rc: rc === undefined ? undefined : Number(rc),
    variant,
  };
}

/** True for a release-shaped version (at least MAJOR.MINOR.PATCH); `6` and `6.1` are alias-shaped. */
export function isReleaseVersion(version: KernelVersion): boolean {
  return version.numbers.length >= 3;
}

export function isPrerelease(version: KernelVersion): boolean {
  return version.rc !== undefined;
}

/**
 * Kernel order: numeric parts compared as numbers (6.10 > 6.9, 6.1.100 > 6.1.99; a missing part is
 * lower, so 6.1 < 6.1.0), then a prerelease before its release (7.3.0-rc3 < 7.3.0, rc9 < rc10), then
 * the plain version before its variants and variants among themselves in natural order. The last rule
 * only makes the order total (for stable sorting); the tag policy never lets variants compete.
 * Returns <0, 0 or >0.
 */
export function compareKernelVersions(a: KernelVersion, b: KernelVersion): number {
  const length = Math.max(a.numbers.length, b.numbers.length);
  for (let i = 0; i < length; i++) {
    const x = a.numbers[i];
    const y = b.numbers[i];
    if (x === undefined) return -1;
    if (y === undefined) return 1;
    if (x !== y) return x - y;
  }
  if (a.rc !== b.rc) {
    if (a.rc === undefined) return 1;
    if (b.rc === undefined) return -1;
    return a.rc - b.rc;
  }
  if (a.variant === b.variant) return 0;
  if (a.variant === undefined) return -1;
  if (b.variant === undefined) return 1;
  return compareNatural(a.variant, b.variant);
}

/** Digit runs compare as numbers (595.91.07 vs 610.57.04), the rest as code units. */
function compareNatural(a: string, b: string): number {
  const partsA = a.match(/[0-9]+|[^0-9]+/g) ?? [];
  const partsB = b.match(/[0-9]+|[^0-9]+/g) ?? [];
  for (let i = 0; i < Math.min(partsA.length, partsB.length); i++) {
    const x = partsA[i] ?? '';
    const y = partsB[i] ?? '';
    if (x === y) continue;
    const numeric = /^[0-9]/.test(x) && /^[0-9]/.test(y);
    if (numeric) {
      const byValue = Number(x) - Number(y);
      if (byValue !== 0) return byValue;
    }
    return x < y ? -1 : 1;
  }
  return partsA.length - partsB.length;
}

/**
 * The version a `uname -r` release stands for: its numeric X.Y.Z prefix (X.Y.Z.W for 2.6-era
 * kernels), keeping an `-rcN` that
 * follows it directly (upstream prereleases report `7.3.0-rc3`). Distribution and LOCALVERSION
 * suffixes are dropped: 6.1.0-56-cloud-amd64 → 6.1.0, 6.18.44-edera-zone → 6.18.44.
 * Undefined when the release does not start with X.Y.Z.
 */
export function versionFromRelease(release: string): string | undefined {
  const match = /^([0-9]+\.[0-9]+\.[0-9]+(?:\.[0-9]+)?)(-rc[0-9]+)?(?=$|[^0-9.])/.exec(release);
  if (!match) return undefined;
  const candidate = `${match[1] ?? ''}${match[2] ?? ''}`;
  return parseKernelVersion(candidate) === undefined ? undefined : candidate;
}
