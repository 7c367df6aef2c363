import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Transform, type Readable } from 'node:stream';
import { setTimeout as delay } from 'node:timers/promises';
import { carryVerifiedMark } from '../../oci/digest.ts';

/**
 * Crash-test pause points. Only when KART_TEST_PAUSE_AT names a phase (and KART_TEST_PAUSE_DIR a
 * directory) does a pull stop there: it writes `<dir>/<phase>.reached` and waits until
 * `<dir>/<phase>.continue` exists, so a test can SIGKILL it at exactly that point. Unset, these are
 * no-ops: production pulls never wait on a file.
 *
 * download: mid-blob; staging: the staging directory exists, no layer read yet; swap: the verified
 * kernel staged, DEST not yet changed; swapped: DEST names the new version, the old one not yet removed.
 */
export type PausePhase = 'download' | 'staging' | 'swap' | 'swapped';

function pauseRequested(phase: PausePhase): string | undefined {
  if (process.env.KART_TEST_PAUSE_AT !== phase) return undefined;
  return process.env.KART_TEST_PAUSE_DIR;
}

export async function pauseAt(phase: PausePhase): Promise<void> {
  const dir = pauseRequested(phase);
  if (dir === undefined) return;
  writeFileSync(join(dir, `${phase}.reached`), String(process.pid));
  while (!existsSync(join(dir, `${phase}.continue`))) await delay(10);
}

/** For the download phase: lets the first chunk through (so a temp file holds partial content), then pauses. */
export function pauseWhileDownloading(content: Readable): Readable {
  if (pauseRequested('download') === undefined) return content;
  let paused = false;
  const gate = new Transform({
    transform(chunk: Buffer, _encoding, done) {
      if (paused) {
        done(null, chunk);
        return;
      }
      paused = true;
      this.push(chunk);
      pauseAt('download').then(() => done(), done);
    },
  });
  content.on('error', (error) => gate.destroy(error));
  // The gate ends only when content ends, so content verified by its producer stays verified.
  return carryVerifiedMark(content, content.pipe(gate));
}
