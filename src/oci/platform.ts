import { KartError } from '../errors.ts';
import type { Descriptor, Platform } from './schema.ts';

/** Platform names (`linux/amd64`, `linux/arm64/v8`) and matching, after containerd's platforms package. */

export function formatPlatform(platform: Pick<Platform, 'os' | 'architecture' | 'variant'>): string {
  return [platform.os, platform.architecture, platform.variant].filter((part) => part).join('/');
}

export function parsePlatform(text: string): Platform {
  const parts = text.split('/');
  if (parts.length < 2 || parts.length > 3 || parts.some((part) => !/^[a-z0-9_.-]+$/i.test(part))) {
    throw new KartError('PLATFORM_INVALID', `"${text}" is not a platform`, {
      hint: 'write a platform as os/architecture[/variant], e.g. linux/amd64 or linux/arm64',
    });
  }
  const [os, architecture, variant] = parts as [string, string, string | undefined];
  return variant === undefined ? { os, architecture } : { os, architecture, variant };
}

/** arm64 without a variant means v8; other architectures compare variants as written. */
function normalisedVariant(platform: Pick<Platform, 'architecture' | 'variant'>): string | undefined {
  if (platform.architecture === 'arm64') return platform.variant ?? 'v8';
  return platform.variant || undefined;
}

/** True when `candidate` satisfies `wanted`; a wanted variant must match, an unset one matches any. */
export function platformMatches(
  candidate: Platform | undefined,
  wanted: Pick<Platform, 'os' | 'architecture' | 'variant'>,
): boolean {
  if (!candidate) return false;
  if (candidate.os !== wanted.os || candidate.architecture !== wanted.architecture) return false;
  if (wanted.variant === undefined) return true;
  return normalisedVariant(candidate) === normalisedVariant(wanted);
}

/** Buildkit attestation manifests sit in indexes as `unknown/unknown`; they are not a platform. */
export function isAttestationEntry(desc: Descriptor): boolean {
  return (
    (desc.platform?.os === 'unknown' && desc.platform.architecture === 'unknown') ||
    desc.annotations?.['vnd.docker.reference.type'] === 'attestation-manifest'
  );
}

/** The platform this process runs on, in OCI terms (Node's `x64` is OCI's `amd64`). */
export function hostPlatform(): Platform {
  const architectures: Record<string, string> = {
    x64: 'amd64',
    arm64: 'arm64',
    arm: 'arm',
    ia32: '386',
    ppc64: 'ppc64le',
    s390x: 's390x',
    riscv64: 'riscv64',
  };
  return {
    os: process.platform === 'win32' ? 'windows' : process.platform,
    architecture: architectures[process.arch] ?? process.arch,
  };
}
