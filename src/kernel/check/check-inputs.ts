import { stat } from 'node:fs/promises';
import { Readable } from 'node:stream';
import { parseReference } from '../../oci/reference.ts';
import { readKernelConfigStream } from '../config/index.ts';
import { checkConfig, type CheckReport, type Flavor } from '../flavor/index.ts';
import { readEmbeddedConfig } from '../image/embedded-config.ts';
import { looksLikeKernelImage } from '../image/sniff-kernel-image.ts';

/**
 * What `kart check` was handed: a config file (or `-`), a kernel image (recognised by its bytes), or
 * a published kernel (`oci:DIR:TAG`, or a registry reference with a tag or digest that names no file).
 */
export type CheckInput =
  | { kind: 'config'; path: string }
  | { kind: 'image'; path: string }
  | { kind: 'reference'; reference: string };

export async function classifyCheckInput(argument: string): Promise<CheckInput> {
  if (argument === '-') return { kind: 'config', path: argument };
  if (argument.startsWith('oci:')) return { kind: 'reference', reference: argument };
  const found = await stat(argument).catch(() => undefined);
  if (found !== undefined) {
    return found.isFile() && (await looksLikeKernelImage(argument))
      ? { kind: 'image', path: argument }
      : { kind: 'config', path: argument };
  }
  // No such file: a registry reference when it parses as one and names a tag or digest; otherwise
  // the config reader reports the missing file.
  try {
    const reference = parseReference(argument);
    if (reference.kind === 'registry' && (reference.tag !== undefined || reference.digest !== undefined)) {
      return { kind: 'reference', reference: argument };
    }
  } catch {
    // not a reference either
  }
  return { kind: 'config', path: argument };
}

/**
 * `kart check --flavor F vmlinuz`: the flavors against the config the kernel image embeds
 * (IKCONFIG). A kernel built without it is IMAGE_NO_IKCONFIG (exit 2), saying what to pass instead.
 */
export async function checkKernelImage(path: string, flavors: Flavor[]): Promise<CheckReport> {
  const embedded = await readEmbeddedConfig(path);
  const source = `${path} (IKCONFIG)`;
  const config = await readKernelConfigStream(Readable.from([embedded.bytes]), source, { whole: true });
  const report = checkConfig(config, flavors);
  report.subject = {
    kind: 'image',
    path,
    format: embedded.image.format,
    release: embedded.image.release,
    banner: embedded.image.banner,
    configDigest: embedded.digest,
  };
  return report;
}
