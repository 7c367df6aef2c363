import type { CopyHooks } from '../oci/copy.ts';
import type { Descriptor } from '../oci/schema.ts';

/**
 * Copy progress for people: a line per blob as it completes and a closing total with bytes/s. It
 * writes only to a terminal: on a pipe or file (CI logs, scripts) it stays silent, so stdout/stderr
 * carry nothing but results and errors.
 */
export interface ProgressSink {
  isTTY?: boolean;
  write(text: string): unknown;
}

export interface TransferProgress extends CopyHooks {
  /** Writes the total line; call once when the copy ended. */
  finish(): void;
}

export function transferProgress(sink: ProgressSink, now: () => number = Date.now): TransferProgress {
  const enabled = sink.isTTY === true;
  const started = now();
  let bytes = 0;
  let blobs = 0;
  const line = (text: string) => {
    if (enabled) sink.write(`${text}\n`);
  };
  return {
    onCopyDone(desc: Descriptor) {
      blobs++;
      bytes += desc.size;
      line(`  copied  ${short(desc.digest)}  ${formatBytes(desc.size)}`);
    },
    onCopySkipped(desc: Descriptor) {
      line(`  exists  ${short(desc.digest)}  ${formatBytes(desc.size)}`);
    },
    finish() {
      const seconds = Math.max((now() - started) / 1000, 0.001);
      line(
        `  total   ${blobs} copied, ${formatBytes(bytes)} in ${seconds.toFixed(1)} s (${formatBytes(bytes / seconds)}/s)`,
      );
    },
  };
}

function short(digest: string): string {
  return digest.slice(0, 19);
}

export function formatBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = n;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${unit === 0 ? Math.round(value) : value.toFixed(1)} ${units[unit]}`;
}
