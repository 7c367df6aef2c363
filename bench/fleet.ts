/**
 * `npm run bench:fleet` (also run by `npm run bench`): a fleet of hosts booting one kernel at once.
 * BENCH_FLEET_HOSTS (default 20) `kart pull -k` processes, each with its own cache and DEST as separate
 * hosts would be, pull Debian's amd64 kernel (~100 MB with its modules) three ways:
 *   - straight from the upstream (a local Debian docker-registry);
 *   - through a site cache (a second docker-registry in proxy mode) that has never seen the kernel;
 *   - through the same site cache again, now warm.
 * For each: wall time of the whole fleet and the bytes the upstream served (its access log).
 * Writes bench/fleet-results.json. Not part of `npm test`.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { startRegistry, type TestRegistry } from '../test/support/registry.ts';
import { KERNEL_TAG, packDebianKernel } from './artifacts.ts';

const ROOT = resolve(import.meta.dirname, '..');
const KART = join(ROOT, 'bin', 'kart.js');
const HOSTS = Number(process.env.BENCH_FLEET_HOSTS ?? 20);
const log = (message: string) => process.stderr.write(`bench fleet: ${message}\n`);

interface Round {
  name: string;
  hosts: number;
  seconds: number;
  upstreamBytes: number;
  upstreamRequests: number;
}

function pullK(ref: string, conf: string, dir: string): Promise<void> {
  return new Promise((done, fail) => {
    const child = spawn(
      process.execPath,
      [
        KART,
        'pull',
        '-k',
        ref,
        '--dest',
        join(dir, 'dest'),
        '--cache',
        join(dir, 'cache'),
        '--registries-conf',
        conf,
      ],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('error', fail);
    child.on('close', (code) => (code === 0 ? done() : fail(new Error(`pull -k exited ${code}: ${stderr}`))));
  });
}

async function fleetRound(
  name: string,
  upstream: TestRegistry,
  ref: string,
  conf: string,
  work: string,
): Promise<Round> {
  const before = upstream.accessLog().length;
  const dirs = Array.from({ length: HOSTS }, () => mkdtempSync(join(work, 'host-')));
  const started = performance.now();
  await Promise.all(dirs.map((dir) => pullK(ref, conf, dir)));
  const seconds = (performance.now() - started) / 1000;
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  const served = upstream.accessLog().slice(before);
  const round = {
    name,
    hosts: HOSTS,
    seconds: Number(seconds.toFixed(2)),
    upstreamBytes: served.reduce((sum, entry) => sum + (entry.method === 'GET' ? entry.bytes : 0), 0),
    upstreamRequests: served.length,
  };
  log(`${name}: ${round.seconds} s, upstream served ${(round.upstreamBytes / 1e6).toFixed(1)} MB`);
  return round;
}

const work = mkdtempSync(join(tmpdir(), 'kart-bench-fleet-'));
const upstream = await startRegistry({ accessLog: true });
let site: TestRegistry | undefined;
try {
  const layout = join(work, 'layout');
  await packDebianKernel(layout);
  const ref = `${upstream.host}/fleet/kernel:${KERNEL_TAG}`;
  const { copyReference } = await import('../src/registry/index.ts');
  await copyReference(`oci:${layout}:${KERNEL_TAG}`, ref, { plainHttp: true });
  site = await startRegistry({ proxy: upstream.url });
  // The upstream alone (no mirror: an empty file, so the machine's own registries.conf plays no part),
  // then with the site cache as its mirror.
  const direct = join(work, 'direct.conf');
  writeFileSync(direct, '');
  const viaSite = join(work, 'site.conf');
  writeFileSync(
    viaSite,
    `[[registry]]\nlocation = "${upstream.host}"\n\n[[registry.mirror]]\nlocation = "${site.host}"\n`,
  );
  const rounds = [
    await fleetRound('straight to the upstream', upstream, ref, direct, work),
    await fleetRound('through the site cache, cold', upstream, ref, viaSite, work),
    await fleetRound('through the site cache, warm', upstream, ref, viaSite, work),
  ];
  const rows = [
    ['fleet of hosts pulling at once', 'wall s', 'upstream MB served', 'upstream requests'],
    ...rounds.map((r) => [
      `${r.hosts} × pull -k ${r.name}`,
      r.seconds.toFixed(2),
      (r.upstreamBytes / 1e6).toFixed(1),
      String(r.upstreamRequests),
    ]),
  ];
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((row) => row[i]!.length)));
  console.log(rows.map((row) => row.map((cell, i) => cell.padEnd(widths[i]!)).join('  ')).join('\n'));
  writeFileSync(
    join(ROOT, 'bench', 'fleet-results.json'),
    `${JSON.stringify(
      {
        date: new Date().toISOString(),
        machine: { cpus: cpus().length, cpu: cpus()[0]?.model, node: process.version },
        rounds,
      },
      null,
      2,
    )}\n`,
  );
  log('wrote bench/fleet-results.json');
} finally {
  await site?.stop();
  await upstream.stop();
  rmSync(work, { recursive: true, force: true });
}
