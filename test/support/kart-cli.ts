/**
 * Runs the real CLI (`bin/kart.js` on this Node) as a child process, the way a user's shell would.
 * Synchronous for plain command tests; asynchronous where the test process itself serves something
 * kart talks to (a counting proxy, a token endpoint, a TLS server): a synchronous spawn would block
 * that server and the child would hang.
 */
import { spawn, spawnSync } from 'node:child_process';
import { resolve } from 'node:path';

export const KART = resolve(import.meta.dirname, '../../bin/kart.js');

export interface KartRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

export interface KartRunOptions {
  cwd?: string;
  /** the whole environment (default: this process's) */
  env?: NodeJS.ProcessEnv;
  input?: string | Buffer;
}

export function runKartSync(args: readonly string[], options: KartRunOptions = {}): KartRun {
  const run = spawnSync(process.execPath, [KART, ...args], {
    encoding: 'utf8',
    ...(options.cwd === undefined ? {} : { cwd: options.cwd }),
    ...(options.env === undefined ? {} : { env: options.env }),
    ...(options.input === undefined ? {} : { input: options.input }),
  });
  return { code: run.status, stdout: run.stdout, stderr: run.stderr };
}

export function runKart(args: readonly string[], options: KartRunOptions = {}): Promise<KartRun> {
  return new Promise((done, fail) => {
    const child = spawn(process.execPath, [KART, ...args], {
      stdio: [options.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
      ...(options.cwd === undefined ? {} : { cwd: options.cwd }),
      ...(options.env === undefined ? {} : { env: options.env }),
    });
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('error', fail);
    child.on('close', (code) => done({ code, stdout, stderr }));
    if (options.input !== undefined) child.stdin?.end(options.input);
  });
}
