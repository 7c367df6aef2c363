import { mkdir } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { KartError } from '../../errors.ts';
import { writeFileAtomic } from '../../oci/atomic-file.ts';
import type { ConfigSplit } from './split.ts';
import { serializeKernelConfig } from './serialize.ts';

/**
 * Writes a split the way kconfig-split.py names its outputs: `split-common` and `split-<input name>`
 * (`split-stdin` for `-`). Names are checked before anything is written, so two inputs with one base
 * name never leave half a split behind; each file is replaced atomically.
 */
export async function writeSplitFiles(split: ConfigSplit, dir: string): Promise<string[]> {
  const files = [
    { name: 'split-common', text: serializeKernelConfig(split.common), source: 'common' },
    ...split.parts.map((p) => ({
      name: `split-${p.source === '-' ? 'stdin' : basename(p.source)}`,
      text: serializeKernelConfig(p.config),
      source: p.source,
    })),
  ];
  const seen = new Map<string, string>();
  for (const file of files) {
    const earlier = seen.get(file.name);
    if (earlier !== undefined) {
      throw new KartError(
        'CONFIG_SPLIT_NAME_CLASH',
        `config split would write ${file.name} for both ${earlier} and ${file.source}; nothing was written`,
        { hint: 'give the inputs different file names (copy or rename one)', exitCode: 2 },
      );
    }
    seen.set(file.name, file.source);
  }
  await mkdir(dir, { recursive: true });
  const written: string[] = [];
  for (const file of files) {
    const path = join(dir, file.name);
    await writeFileAtomic(path, file.text);
    written.push(path);
  }
  return written;
}
