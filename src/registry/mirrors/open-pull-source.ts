import type { Dispatcher } from 'undici';
import type { RegistryReference } from '../../oci/reference.ts';
import type { Target } from '../../oci/store.ts';
import { createDispatcher } from '../http-client.ts';
import { openRepository, type OpenTargetOptions } from '../open-target.ts';
import { DEFAULT_RETRY_POLICY } from '../retry-policy.ts';
import { loadRegistriesConf, type RegistriesConfLocations } from './load-registries-conf.ts';
import { insecureEndpointScheme } from './insecure-transport.ts';
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

  const dispatchers: { dispatcher: Dispatcher; role: 'mirror' | 'upstream' | 'alone' }[] = [];
  const stores: { close(): Promise<void> }[] = [];
  const open = async (endpoint: SourceEndpoint, role: 'mirror' | 'upstream' | 'alone') => {
    const maxRetries = options.retry?.maxRetries ?? DEFAULT_RETRY_POLICY.maxRetries;
    const insecure = endpoint.insecure || options.insecure === true;
    // Each endpoint gets its own pool (its own TLS settings), unless the caller shares one.
    let dispatcher = options.dispatcher;
    if (dispatcher === undefined) {
      dispatcher = createDispatcher({ ...options, insecure });
      dispatchers.push({ dispatcher, role });
    }
    const scheme =
      options.plainHttp === true
        ? 'http'
        : await insecureEndpointScheme(endpoint.host, endpoint.insecure, {
            dispatcher,
            timeoutMs:
              options.connectTimeoutMs ?? settings.mirrorStallTimeoutMs ?? DEFAULT_MIRROR_STALL_TIMEOUT_MS,
          });
    const store = openRepository(endpoint.host, endpoint.repository, {
      ...options,
      dispatcher,
      ...(insecure ? { insecure: true } : {}),
      ...(scheme === 'http' ? { plainHttp: true } : {}),
      // A mirror is one of several: no waiting on it, the next source carries on. One quick retry of
      // a 5xx/429 or a dropped connection first: a site cache under a fleet's cold start answers one
      // request in many with a passing 500, and leaving it for the rest of the pull would send that
      // host's bytes to the upstream the cache is there to spare. Refused connections and stalls
      // are not retried.
      ...(role === 'mirror'
        ? {
            retry: { maxRetries: 1, baseDelayMs: 100, maxDelayMs: 200, maxRetryAfterMs: 1_000 },
            stallTimeoutMs: settings.mirrorStallTimeoutMs ?? DEFAULT_MIRROR_STALL_TIMEOUT_MS,
          }
        : {}),
      // With mirrors to carry on, an upstream that is down is given up on after two quick retries
      // (under a second), not the full backoff: a fleet booting through its site cache keeps moving.
      ...(role === 'upstream' ? { retry: { ...options.retry, maxRetries: Math.min(maxRetries, 2) } } : {}),
    });
    stores.push(store);
    return store.target;
  };
  const close = async (): Promise<void> => {
    await Promise.all(stores.map((store) => store.close()));
    // A mirror's pool may still hold a request nobody waits for (a tag lookup the upstream already
    // answered): ended now rather than waited for, so a slow mirror cannot hold the pull up at the end.
    await Promise.all(
      dispatchers.map(({ dispatcher, role }) =>
        role === 'mirror' ? dispatcher.destroy() : dispatcher.close(),
      ),
    );
  };
  const upstream = await open(plan.upstream, plan.mirrors.length > 0 ? 'upstream' : 'alone');
  if (plan.mirrors.length === 0) return { target: upstream, close };
  const sources: PullSource[] = [];
  for (const mirror of plan.mirrors) {
    sources.push({
      store: await open(mirror, 'mirror'),
      role: 'mirror',
      digests: mirror.digests,
      tags: mirror.tags,
    });
  }
  sources.push({ store: upstream, role: 'upstream', digests: true, tags: true });
  return { target: new MirroredRepository(sources, settings.onSourceSkipped), close };
}
