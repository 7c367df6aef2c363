/**
 * `npm run bench`: kart side by side with skopeo and the curl floor, on one local Debian registry, in
 * one run. Each figure is the median of BENCH_RUNS runs (default 5; the 1 GiB figures BENCH_BIG_RUNS,
 * default 5), kart and its peers interleaved round by round. Prints a table (ratios kart/peer, targets)
 * and writes bench/results.json. Not part of `npm test`.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { startRegistry } from '../test/support/registry.ts';
import { BIG_TAG, KERNEL_TAG, packBigKernel, packDebianKernel, writeSyntheticSquashfs } from './artifacts.ts';
import { installAreaDir } from '../src/kernel/install/index.ts';
import { installedCli } from './installed-cli.ts';
import { layoutGraph } from './layout-graph.ts';
import { runTimed, type Timed } from './measure.ts';
import { clearSkopeoCache, curlPullScript, curlPushScript, skopeoPullArgs, skopeoPushArgs } from './peers.ts';
import { renderTable, summarize, type Figure, type Result } from './report.ts';

const ROOT = resolve(import.meta.dirname, '..');
const RUNS = Number(process.env.BENCH_RUNS ?? 5);
const BIG_RUNS = Number(process.env.BENCH_BIG_RUNS ?? 5);
const BIG_BYTES = 1024 ** 3;

const log = (message: string) => process.stderr.write(`bench: ${message}\n`);
// kart runs as users run it: bin/kart.js as a program, so its shebang's Node flags apply; `env` finds
// the Node this bench runs on first. "kart" is the installed package's CLI (the bundle `npm run build`
// makes, see installed-cli.ts); "kart (sources)" is the checkout's bin/kart.js running src/, measured
// beside it where start-up is most of the time.
const KART_ENV = { ...process.env, PATH: `${dirname(process.execPath)}:${process.env.PATH ?? ''}` };
const KART_SOURCES = join(ROOT, 'bin', 'kart.js');
let KART = KART_SOURCES;
const kart = (...args: string[]) => runTimed(KART, args, { okCodes: [0, 1], env: KART_ENV });
const kartSources = (...args: string[]) => runTimed(KART_SOURCES, args, { okCodes: [0, 1], env: KART_ENV });
const skopeo = (args: string[]) => {
  clearSkopeoCache();
  return runTimed('skopeo', args);
};
const bash = (script: string) => runTimed('bash', ['-c', script]);

interface Contender {
  name: string;
  /** untimed, before each run */
  prepare?: (round: number) => Promise<void>;
  run: (round: number) => Timed;
  /** untimed, after each run */
  cleanup?: (round: number) => void;
}

/**
 * A transient failure (the local registry dropping a kept-alive connection under a peer) must not cost
 * the whole run: the run is cleaned up and repeated, at most twice, and the retry is logged.
 */
async function runWithRetry(title: string, contender: Contender, round: number): Promise<Timed> {
  for (let attempt = 1; ; attempt++) {
    try {
      await contender.prepare?.(round);
      return contender.run(round);
    } catch (error) {
      // Say whether the registry itself still answers: a hung registry and a hung client look alike.
      const answers = await fetch(`${registry.url}/v2/`, { signal: AbortSignal.timeout(5_000) }).then(
        (r) => `answers /v2/ with ${r.status}`,
        (e: unknown) => `does not answer /v2/ (${(e as Error).name})`,
      );
      log(`${title}: ${contender.name} failed; the registry ${answers}`);
      if (attempt > 2) throw error;
      log(
        `${title}: ${contender.name} failed, run again: ${(error as Error).message.split('\n').slice(0, 2).join(' ')}`,
      );
      contender.cleanup?.(round);
    }
  }
}

/**
 * Runs every contender once per round, in turn, so drift (page cache, other load) hits all alike; the
 * order rotates each round, so no tool always goes first (into a cold page cache or a fresh registry).
 */
async function measure(
  title: string,
  contenders: Contender[],
  runs: number,
): Promise<Record<string, Timed[]>> {
  const samples: Record<string, Timed[]> = Object.fromEntries(contenders.map((c) => [c.name, []]));
  for (let round = 0; round < runs; round++) {
    const shift = round % contenders.length;
    for (const contender of [...contenders.slice(shift), ...contenders.slice(0, shift)]) {
      samples[contender.name]!.push(await runWithRetry(title, contender, round));
      contender.cleanup?.(round);
    }
    log(`${title}: round ${round + 1}/${runs}`);
  }
  return samples;
}

/** The bytes of an artifact's index, manifests and blobs: what a push or pull of it moves. */
const graphBytes = (graph: ReturnType<typeof layoutGraph>): number =>
  [graph.index, ...graph.manifests, ...graph.blobs].reduce((n, b) => n + b.size, 0);

/** A new repository name part for every run (and every retry), so each push starts empty. */
let repositories = 0;
const fresh = () => ++repositories;

/** The machine's load when the run starts: figures taken on a busy machine say so. */
const LOAD_AT_START = loadavg();
const work = mkdtempSync(join(tmpdir(), 'kart-bench-'));
KART = installedCli(ROOT, join(work, 'installed'));
const registry = await startRegistry();
const figures: Figure[] = [];
const scratch = (name: string) => join(work, name);
/** Removes what a run left: paths, and a DEST's install area (`.<name>.kart/` beside it). */
const clean = (...paths: string[]) => {
  for (const path of paths) {
    rmSync(path, { recursive: true, force: true });
    rmSync(installAreaDir(path), { recursive: true, force: true });
  }
};

/** Where pulls land: an install's DEST and cache, a layout copy. Emptied after every run. */
const dest = scratch('dest');
const cache = scratch('cache');
const pulled = scratch('pulled');

/**
 * push of one artifact from its layout into new repositories, side by side with skopeo moving the
 * same bytes (--preserve-digests) and with curl POST + PUT of the same blobs (the floor).
 */
async function pushFigure(artifact: {
  id: string;
  title: string;
  layout: string;
  tag: string;
  graph: ReturnType<typeof layoutGraph>;
  /** names the new repositories: `bench/<prefix>-kart-N`, ... */
  prefix: string;
  runs: number;
  /** where kart pushes in a round (default: a new repository each time) */
  kartRepository?: (round: number) => string;
  /** more peers, measured after kart */
  peers?: Contender[];
  targets?: Figure['targets'];
}): Promise<Figure> {
  /** a new repository name, e.g. `bench/push-curl-7` */
  const repository = (who: string) => `bench/${artifact.prefix}-${who}-${fresh()}`;
  return {
    id: artifact.id,
    title: artifact.title,
    unit: 's',
    movedBytes: graphBytes(artifact.graph),
    samples: await measure(
      artifact.title,
      [
        {
          name: 'kart',
          run: (round) =>
            kart(
              'push',
              `oci:${artifact.layout}:${artifact.tag}`,
              `${artifact.kartRepository?.(round) ?? `${registry.host}/${repository('kart')}`}:${artifact.tag}`,
            ),
        },
        ...(artifact.peers ?? []),
        {
          name: 'skopeo --preserve-digests',
          run: () =>
            skopeo(
              skopeoPushArgs(
                artifact.layout,
                artifact.tag,
                `${registry.host}/${repository('skopeo')}:${artifact.tag}`,
                true,
              ),
            ),
        },
        {
          name: 'curl floor',
          run: () => bash(curlPushScript(artifact.graph, registry.url, repository('curl'), artifact.tag)),
        },
      ],
      artifact.runs,
    ),
    targets: [
      { peer: 'skopeo --preserve-digests', maxRatio: 0.9 },
      { peer: 'curl floor', maxRatio: 1.15 },
      ...(artifact.targets ?? []),
    ],
  };
}

/**
 * pull -k of one artifact into an empty cache and DEST, side by side with skopeo (to a layout: it has
 * no install) and with curl + sha256sum of the same blobs (the floor).
 */
async function pullKernelFigure(artifact: {
  id: string;
  title: string;
  /** `HOST/REPO`, already pushed */
  source: string;
  repository: string;
  tag: string;
  graph: ReturnType<typeof layoutGraph>;
  runs: number;
  maxRssMb?: number;
}): Promise<Figure> {
  const ref = `${artifact.source}:${artifact.tag}`;
  const hashed = countHashedBytes(ref);
  return {
    id: artifact.id,
    title: artifact.title,
    unit: 's',
    movedBytes: graphBytes(artifact.graph),
    hashedPerByte: hashed.verified,
    contentHashedPerByte: hashed.content,
    samples: await measure(
      artifact.title,
      [
        {
          name: 'kart',
          run: () => kart('pull', '-k', ref, '--dest', dest, '--cache', cache),
          cleanup: () => clean(dest, cache),
        },
        {
          name: 'skopeo like-for-like',
          run: () => skopeo(skopeoPullArgs(ref, pulled, artifact.tag, true)),
          cleanup: () => clean(pulled),
        },
        {
          name: 'curl floor',
          run: () =>
            bash(curlPullScript(artifact.graph, registry.url, artifact.repository, artifact.tag, pulled)),
          cleanup: () => clean(pulled),
        },
      ],
      artifact.runs,
    ),
    targets: [
      { peer: 'skopeo like-for-like', maxRatio: 0.9 },
      { peer: 'curl floor', maxRatio: 1.15 },
      ...(artifact.maxRssMb === undefined ? [] : [{ maxRssMb: artifact.maxRssMb }]),
      { maxHashedPerByte: 1 },
    ],
  };
}

/**
 * One untimed cold pull -k with KART_COUNT_HASHED_BYTES set, over the bytes the pull stored in its
 * cache (each blob once): `verified`, the bytes checked against the digests that named them (1: each
 * blob byte hashed once), and `content`, the bytes hashed to record the installed files' digests.
 */
function countHashedBytes(ref: string): { verified: number; content: number } {
  const countFile = scratch('hashed-bytes');
  const result = execFileSync(KART, ['pull', '-k', ref, '--dest', dest, '--cache', cache, '--json'], {
    env: { ...KART_ENV, KART_COUNT_HASHED_BYTES: countFile },
    stdio: ['ignore', 'pipe', 'inherit'],
    encoding: 'utf8',
  });
  // Every blob the pull stored (whole or framed around an installed file), each once.
  const blobs = (JSON.parse(result) as { blobs: { size: number }[] }).blobs;
  const moved = blobs.reduce((n, blob) => n + blob.size, 0);
  const counted = JSON.parse(readFileSync(countFile, 'utf8')) as { verified: number; content: number };
  clean(dest, cache, countFile);
  const ratio = { verified: counted.verified / moved, content: counted.content / moved };
  log(
    `pull -k ${ref}: ${ratio.verified.toFixed(2)} bytes verified and ${ratio.content.toFixed(2)} hashed for installed files' digests per byte moved`,
  );
  return { verified: Number(ratio.verified.toFixed(3)), content: Number(ratio.content.toFixed(3)) };
}

try {
  log(
    `registry at ${registry.host}; work in ${work}; load average ${LOAD_AT_START.map((l) => l.toFixed(2)).join(' ')}`,
  );
  const kernelLayout = scratch('kernel-layout');
  await packDebianKernel(kernelLayout);
  const graph = layoutGraph(kernelLayout, KERNEL_TAG);
  const kernelBytes = graphBytes(graph);
  log(`kernel artifact: ${(kernelBytes / 1e6).toFixed(1)} MB in ${graph.blobs.length} blobs`);
  const source = `${registry.host}/bench/source`;
  kart('push', `oci:${kernelLayout}:${KERNEL_TAG}`, `${source}:${KERNEL_TAG}`);

  // push layout → a fresh repository
  figures.push(
    await pushFigure({
      id: 'push',
      title: `push ${(kernelBytes / 1e6).toFixed(0)} MB kernel → fresh repository`,
      layout: kernelLayout,
      tag: KERNEL_TAG,
      graph,
      prefix: 'push',
      runs: RUNS,
      peers: [
        {
          name: 'skopeo (default: gzips layers)',
          run: () =>
            skopeo(
              skopeoPushArgs(
                kernelLayout,
                KERNEL_TAG,
                `${registry.host}/bench/push-skopeo-default-${fresh()}:${KERNEL_TAG}`,
                false,
              ),
            ),
        },
      ],
      targets: [{ peer: 'skopeo (default: gzips layers)', maxRatio: 0.9 }],
    }),
  );

  // pull registry → layout
  figures.push({
    id: 'pull',
    movedBytes: kernelBytes,
    title: 'pull kernel → OCI layout',
    unit: 's',
    samples: await measure(
      'pull',
      [
        {
          name: 'kart',
          run: () => kart('pull', `${source}:${KERNEL_TAG}`, `oci:${pulled}:${KERNEL_TAG}`),
          cleanup: () => clean(pulled),
        },
        {
          name: 'skopeo (default: gzips layers)',
          run: () => skopeo(skopeoPullArgs(`${source}:${KERNEL_TAG}`, pulled, KERNEL_TAG, false)),
          cleanup: () => clean(pulled),
        },
        {
          name: 'skopeo like-for-like',
          run: () => skopeo(skopeoPullArgs(`${source}:${KERNEL_TAG}`, pulled, KERNEL_TAG, true)),
          cleanup: () => clean(pulled),
        },
        {
          name: 'curl floor',
          run: () => bash(curlPullScript(graph, registry.url, 'bench/source', KERNEL_TAG, pulled)),
          cleanup: () => clean(pulled),
        },
      ],
      RUNS,
    ),
    targets: [
      { peer: 'skopeo like-for-like', maxRatio: 0.9 },
      { peer: 'skopeo (default: gzips layers)', maxRatio: 0.9 },
      { peer: 'curl floor', maxRatio: 1.15 },
    ],
  });

  // pull -k → install (cold: empty cache, empty DEST)
  figures.push(
    await pullKernelFigure({
      id: 'pull-k',
      title: 'pull -k kernel → install (cold cache)',
      source,
      repository: 'bench/source',
      tag: KERNEL_TAG,
      graph,
      runs: RUNS,
    }),
  );

  // push of unchanged content, warm pull -k
  kart('push', `oci:${kernelLayout}:${KERNEL_TAG}`, `${registry.host}/bench/unchanged:${KERNEL_TAG}`);
  figures.push({
    id: 'push-unchanged',
    title: 'push unchanged content',
    unit: 's',
    samples: await measure(
      'unchanged push',
      [
        {
          name: 'kart',
          run: () =>
            kart(
              'push',
              `oci:${kernelLayout}:${KERNEL_TAG}`,
              `${registry.host}/bench/unchanged:${KERNEL_TAG}`,
            ),
        },
        {
          name: 'kart (sources)',
          run: () =>
            kartSources(
              'push',
              `oci:${kernelLayout}:${KERNEL_TAG}`,
              `${registry.host}/bench/unchanged:${KERNEL_TAG}`,
            ),
        },
        {
          name: 'skopeo --preserve-digests',
          run: () =>
            skopeo(
              skopeoPushArgs(
                kernelLayout,
                KERNEL_TAG,
                `${registry.host}/bench/unchanged:${KERNEL_TAG}`,
                true,
              ),
            ),
        },
      ],
      RUNS,
    ),
    targets: [{ maxSeconds: 0.15 }, { peer: 'kart (sources)', maxRatio: 0.6 }],
  });
  // resolve: what a tag names, as `kart inspect` shows it (manifests and config blobs, no layers)
  figures.push({
    id: 'inspect',
    title: 'kart inspect of a registry tag',
    unit: 's',
    samples: await measure(
      'inspect',
      [
        { name: 'kart', run: () => kart('inspect', `${source}:${KERNEL_TAG}`) },
        { name: 'kart (sources)', run: () => kartSources('inspect', `${source}:${KERNEL_TAG}`) },
        {
          name: 'skopeo inspect',
          run: () =>
            runTimed('skopeo', ['inspect', '--tls-verify=false', `docker://${source}:${KERNEL_TAG}`]),
        },
      ],
      RUNS,
    ),
    targets: [{ peer: 'kart (sources)', maxRatio: 0.6 }],
  });
  kart('pull', '-k', `${source}:${KERNEL_TAG}`, '--dest', dest, '--cache', cache);
  figures.push({
    id: 'pull-k-warm',
    title: 'pull -k, everything cached and installed',
    unit: 's',
    samples: await measure(
      'warm pull -k',
      [
        {
          name: 'kart',
          run: () => kart('pull', '-k', `${source}:${KERNEL_TAG}`, '--dest', dest, '--cache', cache),
        },
        {
          name: 'kart (sources)',
          run: () => kartSources('pull', '-k', `${source}:${KERNEL_TAG}`, '--dest', dest, '--cache', cache),
        },
      ],
      RUNS,
    ),
    targets: [{ maxSeconds: 0.15 }, { peer: 'kart (sources)', maxRatio: 0.6 }],
  });
  clean(dest, cache);

  // small commands
  const config = join(ROOT, '.cache', 'debian-kernels', 'amd64', 'boot');
  const configFile = execFileSync('sh', ['-c', `ls ${config}/config-*`], { encoding: 'utf8' }).trim();
  figures.push({
    id: 'check',
    title: `kart check of a ${(statSync(configFile).size / 1024).toFixed(0)} KB config (--flavor host)`,
    unit: 's',
    samples: await measure(
      'check',
      [{ name: 'kart', run: () => kart('check', '--flavor', 'host', configFile) }],
      RUNS,
    ),
    targets: [],
  });
  figures.push({
    id: 'help',
    title: 'kart --help',
    unit: 's',
    samples: await measure(
      'help',
      [
        { name: 'kart', run: () => kart('--help') },
        { name: 'kart (sources)', run: () => kartSources('--help') },
        { name: 'skopeo --help', run: () => runTimed('skopeo', ['--help']) },
      ],
      RUNS,
    ),
    targets: [{ maxSeconds: 0.1 }],
  });

  // the 1 GiB image: wall time and peak RSS, and hashing throughput on the addons file
  const bigAddons = scratch('big-addons.squashfs');
  await writeSyntheticSquashfs(bigAddons, BIG_BYTES);
  const bigLayout = scratch('big-layout');
  await packBigKernel(bigLayout, bigAddons);
  const bigGraph = layoutGraph(bigLayout, BIG_TAG);
  const bigSource = `${registry.host}/bench/big-source`;
  log('1 GiB artifact packed');
  figures.push(
    await pushFigure({
      id: 'push-1g',
      title: 'push 1 GiB image → fresh repository',
      layout: bigLayout,
      tag: BIG_TAG,
      graph: bigGraph,
      prefix: 'big',
      runs: BIG_RUNS,
      // The first round's push is also the source the 1 GiB pull -k reads.
      kartRepository: (round) => (round === 0 ? bigSource : `${registry.host}/bench/big-kart-${fresh()}`),
      targets: [{ maxRssMb: 150 }],
    }),
  );
  figures.push(
    await pullKernelFigure({
      id: 'pull-k-1g',
      title: 'pull -k 1 GiB image → install (cold cache)',
      source: bigSource,
      repository: 'bench/big-source',
      tag: BIG_TAG,
      graph: bigGraph,
      runs: BIG_RUNS,
      maxRssMb: 150,
    }),
  );
  figures.push({
    id: 'hash',
    title: 'sha256 of the 1 GiB file (page cache warm)',
    unit: 's',
    bytes: BIG_BYTES,
    samples: await measure(
      'hashing',
      [
        {
          name: 'kart',
          run: () => runTimed(process.execPath, [join(ROOT, 'bench', 'hash-throughput.ts'), bigAddons]),
        },
        { name: 'sha256sum', run: () => runTimed('sha256sum', [bigAddons]) },
      ],
      RUNS,
    ),
    targets: [{ peer: 'sha256sum', minThroughputRatio: 0.9 }],
  });

  const results: Result[] = figures.map(summarize);
  const { text, verdicts } = renderTable(results);
  console.log(text);
  mkdirSync(join(ROOT, 'bench'), { recursive: true });
  writeFileSync(
    join(ROOT, 'bench', 'results.json'),
    `${JSON.stringify(
      {
        date: new Date().toISOString(),
        machine: {
          cpus: cpus().length,
          cpu: cpus()[0]?.model,
          node: process.version,
          loadAverageAtStart: LOAD_AT_START,
        },
        runs: RUNS,
        bigRuns: BIG_RUNS,
        kernelArtifactBytes: kernelBytes,
        figures: results,
        verdicts,
      },
      null,
      2,
    )}\n`,
  );
  log('wrote bench/results.json');
} finally {
  await registry.stop();
  rmSync(work, { recursive: true, force: true });
}
