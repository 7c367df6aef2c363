import { stat } from 'node:fs/promises';
import { printJson, printLine } from './output.ts';

/**
 * `kart inspect vmlinuz`: when the argument is a file (not `oci:`), it is a kernel image, and inspect
 * tells what it is: format, arch, release, compression and the full `Linux version` banner, read from
 * the decompressed payload. Returns false when the argument is no file (a reference, then).
 */
export async function printKernelImageFile(argument: string, json: boolean): Promise<boolean> {
  if (argument.startsWith('oci:')) return false;
  const found = await stat(argument).catch(() => undefined);
  if (found === undefined || !found.isFile()) return false;
  const { inspectKernelImage } = await import('../kernel/image/index.ts');
  const info = await inspectKernelImage(argument, { payloadBanner: true });
  if (json) {
    printJson({ path: argument, ...info });
    return true;
  }
  printLine(`${argument}: ${info.format} ${info.arch}, release ${info.release}`);
  if (info.compression !== undefined) printLine(`  compression: ${info.compression}`);
  if (info.bootProtocol !== undefined) printLine(`  boot protocol: ${info.bootProtocol}`);
  printLine(`  ${info.banner}`);
  return true;
}
