/**
 * The test registry itself: it must keep answering while the process that started it is blocked in
 * spawnSync (the bench times every command that way, and runKartSync runs the CLI that way). With its
 * log on a pipe, nothing drained the pipe during the block; distribution writes an error line for
 * every 404, and once the pipe was full it stopped answering, so a kart push "hung" late in a bench.
 */
import { spawnSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRegistry, type TestRegistry } from '../support/registry.ts';

let registry: TestRegistry;
beforeAll(async () => {
  registry = await startRegistry();
});
afterAll(async () => registry?.stop());

describe('the test registry (distribution 2.8)', () => {
  it('answers 300 requests that each log an error while its starter is blocked in spawnSync', () => {
    const blob = `${registry.url}/v2/fixture/none/blobs/sha256:${'a'.repeat(64)}`;
    const run = spawnSync(
      'bash',
      ['-c', `for i in $(seq 1 300); do curl -s -m 2 -o /dev/null -w '%{http_code}\\n' -I '${blob}'; done`],
      { encoding: 'utf8' },
    );
    const codes = run.stdout.trim().split('\n');
    expect(codes).toHaveLength(300);
    expect(new Set(codes)).toEqual(new Set(['404']));
  });
});
