import { spawn } from 'node:child_process';
import { mksquashfsFailed, mksquashfsMissing } from './addons-errors.ts';

const STDERR_LIMIT = 4096;

/**
 * Runs mksquashfs with `args`. SOURCE_DATE_EPOCH is removed from its environment: mksquashfs refuses
 * it together with -mkfs-time/-all-time, and kart passes the timestamps explicitly.
 */
export async function runMksquashfs(command: string, args: string[]): Promise<void> {
  const env = { ...process.env };
  delete env.SOURCE_DATE_EPOCH;
  await new Promise<void>((done, fail) => {
    const child = spawn(command, args, { env, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (text: string) => {
      // Keep the end: mksquashfs's FATAL ERROR line is its last.
      stderr = (stderr + text).slice(-STDERR_LIMIT);
    });
    child.on('error', (error: NodeJS.ErrnoException) => {
      fail(
        error.code === 'ENOENT'
          ? mksquashfsMissing(command, error)
          : mksquashfsFailed(command, error.message, ''),
      );
    });
    child.on('close', (code, signal) => {
      if (code === 0) done();
      else fail(mksquashfsFailed(command, signal ? `killed by ${signal}` : `exit status ${code}`, stderr));
    });
  });
}
