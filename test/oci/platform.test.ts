import { describe, expect, it } from 'vitest';
import {
  KartError,
  formatPlatform,
  hostPlatform,
  isAttestationEntry,
  parsePlatform,
  platformMatches,
} from '../../src/oci/index.ts';

const digest = `sha256:${'0'.repeat(64)}` as const;

describe('platforms', () => {
  it('formats and parses os/arch[/variant]', () => {
    expect(formatPlatform({ os: 'linux', architecture: 'amd64' })).toBe('linux/amd64');
    expect(formatPlatform({ os: 'linux', architecture: 'arm64', variant: 'v8' })).toBe('linux/arm64/v8');
    expect(parsePlatform('linux/arm64/v8')).toEqual({ os: 'linux', architecture: 'arm64', variant: 'v8' });
    expect(parsePlatform('linux/amd64')).toEqual({ os: 'linux', architecture: 'amd64' });
  });

  it.each(['linux', 'linux/', 'a/b/c/d', 'linux/amd 64'])('PLATFORM_INVALID for "%s"', (text) => {
    let caught: unknown;
    try {
      parsePlatform(text);
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(KartError);
    expect((caught as KartError).code).toBe('PLATFORM_INVALID');
    expect((caught as KartError).message).toBe(`"${text}" is not a platform`);
  });

  it('matches os and architecture; arm64 without a variant is v8', () => {
    expect(
      platformMatches({ os: 'linux', architecture: 'amd64' }, { os: 'linux', architecture: 'amd64' }),
    ).toBe(true);
    expect(
      platformMatches({ os: 'linux', architecture: 'arm64' }, { os: 'linux', architecture: 'amd64' }),
    ).toBe(false);
    expect(
      platformMatches({ os: 'windows', architecture: 'amd64' }, { os: 'linux', architecture: 'amd64' }),
    ).toBe(false);
    expect(
      platformMatches(
        { os: 'linux', architecture: 'arm64' },
        { os: 'linux', architecture: 'arm64', variant: 'v8' },
      ),
    ).toBe(true);
    expect(
      platformMatches(
        { os: 'linux', architecture: 'arm', variant: 'v6' },
        { os: 'linux', architecture: 'arm', variant: 'v7' },
      ),
    ).toBe(false);
    expect(platformMatches(undefined, { os: 'linux', architecture: 'amd64' })).toBe(false);
  });

  it('recognises attestation entries', () => {
    const base = { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest, size: 1 };
    expect(isAttestationEntry({ ...base, platform: { os: 'unknown', architecture: 'unknown' } })).toBe(true);
    expect(
      isAttestationEntry({ ...base, annotations: { 'vnd.docker.reference.type': 'attestation-manifest' } }),
    ).toBe(true);
    expect(isAttestationEntry({ ...base, platform: { os: 'linux', architecture: 'amd64' } })).toBe(false);
  });

  it('names the host platform in OCI terms', () => {
    const expected = { x64: 'amd64', arm64: 'arm64' }[process.arch as 'x64' | 'arm64'];
    expect(hostPlatform()).toEqual({ os: 'linux', architecture: expected });
  });
});
