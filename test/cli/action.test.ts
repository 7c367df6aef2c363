/**
 * action.yml, the GitHub Action other kernel repositories use: its `kart check` step is a bash script
 * run by GitHub as `bash --noprofile --norc -eo pipefail`. This test runs that exact script, taken from
 * action.yml, the same way, with the inputs GitHub would set, on real configs: the worst exit wins,
 * every config is checked, annotations reach stdout, `ok` reaches $GITHUB_OUTPUT, reports reach
 * `output`.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { KART } from '../support/kart-cli.ts';

const ROOT = resolve(import.meta.dirname, '../..');
const scratch = mkdtempSync(join(tmpdir(), 'kart-action-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

/** The `run: |` block of the step with `id: check`, dedented as GitHub's YAML parser would. */
function checkStepScript(): string {
  const lines = readFileSync(join(ROOT, 'action.yml'), 'utf8').split('\n');
  const step = lines.findIndex((line) => line.trim() === 'id: check');
  const run = lines.findIndex((line, i) => i > step && line.trim() === 'run: |');
  expect(step).toBeGreaterThan(0);
  expect(run).toBeGreaterThan(step);
  const body: string[] = [];
  for (const line of lines.slice(run + 1)) {
    if (line.trim() !== '' && !line.startsWith('        ')) break;
    body.push(line.slice(8));
  }
  return body.join('\n');
}

function runAction(inputs: { flavors: string; configs: string; format?: string; output?: string }) {
  const githubOutput = join(mkdtempSync(join(scratch, 'gh-')), 'output');
  writeFileSync(githubOutput, '');
  const run = spawnSync('bash', ['--noprofile', '--norc', '-eo', 'pipefail', '-c', checkStepScript()], {
    cwd: scratch,
    encoding: 'utf8',
    env: {
      ...process.env,
      // `node` in the script must be the Node these tests run on (>= 22.19), as setup-node provides.
      PATH: `${dirname(process.execPath)}:${process.env.PATH ?? ''}`,
      KART_FLAVORS: inputs.flavors,
      KART_CONFIGS: inputs.configs,
      KART_FORMAT: inputs.format ?? 'github',
      KART_OUTPUT: inputs.output ?? '',
      KART,
      GITHUB_OUTPUT: githubOutput,
    },
  });
  return { ...run, githubOutput: readFileSync(githubOutput, 'utf8') };
}

const VERITY_OK =
  'CONFIG_MD=y\nCONFIG_BLK_DEV_DM=y\nCONFIG_DM_INIT=y\nCONFIG_DM_VERITY=y\nCONFIG_CRYPTO_SHA256=y\n';
const VERITY_NO_INIT =
  'CONFIG_MD=y\nCONFIG_BLK_DEV_DM=y\n# CONFIG_DM_INIT is not set\nCONFIG_DM_VERITY=y\nCONFIG_CRYPTO_SHA256=y\n';

describe('action.yml kart check step', () => {
  it('every config passing: exit 0, ok=true', () => {
    writeFileSync(join(scratch, 'good.config'), VERITY_OK);
    const run = runAction({ flavors: 'dm-verity', configs: 'good.config' });
    expect(run.status).toBe(0);
    expect(run.githubOutput).toBe('ok=true\n');
    expect(run.stdout).toMatch(/^OK: all 5 requirements met/m);
  });

  it('checks every config, annotates the failing line, exits with the worst status, ok=false', () => {
    writeFileSync(join(scratch, 'bad.config'), VERITY_NO_INIT);
    writeFileSync(join(scratch, 'good2.config'), VERITY_OK);
    // Comma- and space-separated flavors; a failing config first, so a script stopping early would
    // never reach the good one (its OK line proves it ran).
    const run = runAction({ flavors: 'dm-verity, ./extra.ini', configs: 'bad.config\ngood2.config' });
    expect(run.status).toBe(2); // ./extra.ini does not exist: bad input is worse than unmet requirements
    writeFileSync(join(scratch, 'extra.ini'), 'extends = dm-verity\n');
    const again = runAction({ flavors: 'dm-verity, ./extra.ini', configs: 'bad.config\ngood2.config' });
    expect(again.status).toBe(1);
    expect(again.githubOutput).toBe('ok=false\n');
    expect(again.stdout).toContain('::error file=bad.config,line=3,');
    expect(again.stdout).toContain('CONFIG_DM_INIT requires y but is not set (bad.config:3;');
    expect(again.stdout.match(/^OK: all /gm)).toHaveLength(1);
  });

  it('with output, writes one report per config in the chosen format', () => {
    writeFileSync(join(scratch, 'j.config'), VERITY_NO_INIT);
    const out = join(scratch, 'reports');
    const run = runAction({
      flavors: 'dm-verity',
      configs: 'j.config good.config',
      format: 'junit',
      output: out,
    });
    expect(run.status).toBe(1);
    expect(readdirSync(out).sort()).toEqual(['good.config.junit', 'j.config.junit']);
    const failing = readFileSync(join(out, 'j.config.junit'), 'utf8');
    expect(failing).toMatch(/^<\?xml/);
    expect(failing).toContain('<failure');
    expect(readFileSync(join(out, 'good.config.junit'), 'utf8')).not.toContain('<failure');
  });
});
