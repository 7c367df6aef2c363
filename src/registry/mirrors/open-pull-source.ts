import type { RegistryReference } from '../../oci/reference.ts';
import type { Target } from '../../oci/store.ts';
import { openRepository, type OpenTargetOptions } from '../open-target.ts';
import { DEFAULT_RETRY_POLICY } from '../retry-policy.ts';
import { loadRegistriesConf, type RegistriesConfLocations } from './load-registries-conf.ts';
import { MirroredRepository, type PullSource, type SourceSkip } from './mirrored-repository.ts';
import { planPullSources, type CommandLineMirrors, type SourceEndpoint } from './pull-source-plan.ts';

/**
 * How a pull finds its sources: registries.conf (as containers tools read it) and `--mirror`.
 * Passed as `OpenTargetOptions.sources`; `false` reads no registries.conf and uses no mirror.
 */
export interface PullSourceOptions extends CommandLineMirrors {
  /** where registries.conf is looked for (default: containers' places); false: none */
  registriesConf?: RegistriesConfLocations | false;
  /** a mirror that sends nothing for this long is skipped (ms, default 10 000) */
  mirrorStallTimeoutMs?: number;
  /** told when a source is skipped for the rest of the pull (the CLI prints a warning) */
  onSourceSkipped?: (skip: SourceSkip) => void;
}

export const DEFAULT_MIRROR_STALL_TIMEOUT_MS = 10_000;

/**
 * The store a pull of `reference` reads from: undefined when nothing configures it (the caller opens
 * the repository as always), the rewritten upstream alone when registries.conf only relocates it, or
 * a MirroredRepository over its mirrors and the upstream.
 */
export async function openPullSource(
  reference: RegistryReference,
  options: OpenTargetOptions,
): Promise<{ target: Target; close(): Promise<void> } | undefined> {
  const settings = options.sources === false ? undefined : (options.sources ?? {});
  if (settings === undefined) return undefined;
  const conf =
    settings.registriesConf === false ? undefined : await loadRegistriesConf(settings.registriesConf ?? {});
  const plan = planPullSources(reference, conf, settings);
  const unchanged =
    plan.upstream.host === reference.registry &&
    plan.upstream.repository === reference.repository &&
    !plan.upstream.insecure;
  if (plan.mirrors.length === 0 && unchanged) return undefined;

  const opened: { store: ReturnType<typeof openRepository>; endpoint: SourceEndpoint }[] = [];
  const open = (endpoint: SourceEndpoint, role: 'mirror' | 'upstream' | 'alone') => {
    const maxRetries = options.retry?.maxRetries ?? DEFAULT_RETRY_POLICY.maxRetries;
    const store = openRepository(endpoint.host, endpoint.repository, {
      ...options,
      ...(endpoint.insecure ? { insecure: true } : {}),
      // A mirror is one of several: no waiting on it, the next source carries on.
      ...(role === 'mirror'
        ? {
            retry: { ...options.retry, maxRetries: 0 },
            stallTimeoutMs: settings.mirrorStallTimeoutMs ?? DEFAULT_MIRROR_STALL_TIMEOUT_MS,
          }
        : {}),
      // With mirrors to carry on, an upstream that is down is given up on after two quick retries
      // (under a second), not the full backoff: a fleet booting through its site cache keeps moving.
      ...(role === 'upstream' ? { retry: { ...options.retry, maxRetries: Math.min(maxRetries, 2) } } : {}),
    });
    opened.push({ store, endpoint });
    return store.target;
  };
  const close = async (): Promise<void> => {
    await Promise.all(opened.map(({ store }) => store.close()));
  };
  const upstream = open(plan.upstream, plan.mirrors.length > 0 ? 'upstream' : 'alone');
  if (plan.mirrors.length === 0) return { target: upstream, close };
  const sources: PullSource[] = plan.mirrors.map((mirror) => ({
    store: open(mirror, 'mirror'),
    role: 'mirror',
    digests: mirror.digests,
    tags: mirror.tags,
  }));
  sources.push({ store: upstream, role: 'upstream', digests: true, tags: true });
  return { target: new MirroredRepository(sources, settings.onSourceSkipped), close };
}
