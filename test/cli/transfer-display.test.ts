/**
 * The live display, forced with an injected terminal stream and a hand-moved clock: while bytes move
 * it redraws per-blob and total bytes, rate and ETA in place; on a pipe it writes nothing.
 */
import { describe, expect, it } from 'vitest';
import { transferDisplay } from '../../src/cli/transfer-display.ts';
import type { Descriptor } from '../../src/oci/schema.ts';

const MiB = 1 << 20;
const blob: Descriptor = {
  mediaType: 'application/octet-stream',
  digest: `sha256:${'ab'.repeat(32)}`,
  size: 10 * MiB,
};

function drive(isTTY: boolean): string[] {
  const writes: string[] = [];
  let clock = 1_000;
  const display = transferDisplay({ isTTY, write: (t: string) => writes.push(t) }, { now: () => clock });
  display.onTransfer({ phase: 'start', desc: blob, transferred: 0 });
  for (let moved = MiB; moved <= 4 * MiB; moved += MiB) {
    clock += 1_000; // 1 MiB a second
    display.onTransfer({ phase: 'progress', desc: blob, transferred: moved });
  }
  display.onTransfer({ phase: 'progress', desc: blob, transferred: 4 * MiB + 1 }); // same instant: no redraw
  clock += 6_000;
  display.onTransfer({ phase: 'done', desc: blob, transferred: blob.size });
  display.finish();
  return writes;
}

describe('transfer display', () => {
  it('on a terminal: redraws bytes, rate and ETA while the blob moves, then one line per blob and the total', () => {
    const writes = drive(true);
    // start + 4 timed updates (the same-instant one is throttled) + done + finish
    expect(writes).toHaveLength(7);
    const third = writes[3]!;
    expect(third.startsWith('\x1b[2A')).toBe(true); // back over the blob line and the total line
    expect(third).toContain('  sha256:abababababab  3.0 MiB / 10.0 MiB  1.0 MiB/s  ETA 7s\n');
    expect(third).toContain('  total   3.0 MiB / 10.0 MiB  1.0 MiB/s  ETA 7s\n');
    expect(writes[5]).toContain('  done    sha256:abababababab  10.0 MiB\n');
    expect(writes[6]).toContain('  total   1 copied (10.0 MiB), 0 already there, in 10.0 s (1.0 MiB/s)\n');
  });

  it('on a pipe: writes nothing', () => {
    expect(drive(false)).toEqual([]);
  });
});
