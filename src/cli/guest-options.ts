import { KartError } from '../errors.ts';
import type { GuestBundleSource, InstalledGuest } from '../guest/bundle/index.ts';

/** A whole-number flag (`--data-blocks 1026`), else OPTION_INVALID naming the flag (exit 2). */
export function parseWholeNumber(flag: string, text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  if (!/^[0-9]+$/.test(text) || !Number.isSafeInteger(Number(text))) {
    throw new KartError('OPTION_INVALID', `${flag} ${text}: not a whole number`, {
      hint: `pass e.g. ${flag} 4096`,
    });
  }
  return Number(text);
}

export interface GuestPublishFlags {
  rootfs?: string;
  rootfsDir?: string;
  verityParams?: string;
  rootfsAlign?: string;
}

/** `--rootfs`, `--rootfs-dir`, `--verity-params LINE|@FILE` as publish's guest option (none: no bundle). */
export async function guestSourceOf(
  flags: GuestPublishFlags,
  sourceDateEpoch: number | undefined,
): Promise<{ guest?: GuestBundleSource }> {
  if (flags.rootfs === undefined && flags.rootfsDir === undefined) {
    if (flags.verityParams !== undefined) {
      throw new KartError('OPTION_INVALID', '--verity-params needs --rootfs IMAGE', {
        hint: 'publish a bundle with --rootfs IMAGE --verity-params LINE',
      });
    }
    return {};
  }
  let verityParams = flags.verityParams;
  if (verityParams?.startsWith('@') === true) {
    const { readFile } = await import('node:fs/promises');
    const file = verityParams.slice(1);
    verityParams = (
      await readFile(file, 'utf8').catch((error: NodeJS.ErrnoException) => {
        throw new KartError('OPTION_INVALID', `--verity-params @${file}: ${error.code ?? error.message}`, {
          hint: "point it at Kata's root_hash_<variant>.txt",
        });
      })
    ).trim();
  }
  return {
    guest: {
      ...(flags.rootfs === undefined ? {} : { rootfs: flags.rootfs }),
      ...(flags.rootfsDir === undefined ? {} : { rootfsDir: flags.rootfsDir }),
      ...(verityParams === undefined ? {} : { verityParams }),
      ...(flags.rootfsAlign === undefined
        ? {}
        : { alignMiB: parseWholeNumber('--rootfs-align', flags.rootfsAlign)! }),
      ...(sourceDateEpoch === undefined ? {} : { sourceDateEpoch }),
    },
  };
}

/** The lines pull -k prints for a guest bundle. */
export function guestLines(guest: InstalledGuest | undefined): string[] {
  if (guest === undefined) return [];
  const lines = [`guest image ${guest.image}: ${guest.fsType}${guest.dax ? ', DAX header' : ''}`];
  if (guest.kernelVerityParams !== undefined) lines.push(`kernel_verity_params: ${guest.kernelVerityParams}`);
  for (const [disk, line] of Object.entries(guest.kernelCommandLines ?? {}))
    lines.push(`kernel line (${disk}): ${line}`);
  return lines;
}
