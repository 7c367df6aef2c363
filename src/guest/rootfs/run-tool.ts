import { spawn } from 'node:child_process';
import { rootfsToolFailed, rootfsToolMissing } from './rootfs-errors.ts';

const STDERR_LIMIT = 8192;

export interface ToolRun {
  stdout: string;
  stderr: string;
}

/**
 * Runs one filesystem tool to completion. A missing tool names its Debian package; a failing one
 * carries the end of its stderr (where these tools say why). Output is capped: they are chatty.
 */
export async function runTool(
  command: string,
  args: readonly string[],
  options: { pkg: string; env?: NodeJS.ProcessEnv },
): Promise<ToolRun> {
  return new Promise((done, fail) => {
    const child = spawn(command, args, {
      env: options.env ?? process.env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout
      .setEncoding('utf8')
      .on('data', (text: string) => (stdout = (stdout + text).slice(-STDERR_LIMIT)));
    child.stderr
      .setEncoding('utf8')
      .on('data', (text: string) => (stderr = (stderr + text).slice(-STDERR_LIMIT)));
    child.on('error', (error: NodeJS.ErrnoException) =>
      fail(
        error.code === 'ENOENT'
          ? rootfsToolMissing(command, options.pkg, error)
          : rootfsToolFailed(command, error.message, ''),
      ),
    );
    child.on('close', (code, signal) => {
      if (code === 0) done({ stdout, stderr });
      else fail(rootfsToolFailed(command, signal ? `killed by ${signal}` : `exit status ${code}`, stderr));
    });
  });
}
