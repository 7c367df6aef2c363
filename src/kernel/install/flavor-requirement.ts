import { KartError } from '../../errors.ts';
import { readKernelConfig } from '../config/index.ts';
import { checkConfig, loadFlavor, type CheckReport } from '../flavor/index.ts';
import { kernelImageInvalid } from './install-errors.ts';

/**
 * `--flavor` for an install: the kernel's config must pass the flavor, whether the config was just
 * staged (install) or is the one DEST already holds (a pull that finds DEST holding its manifest: the
 * flavor asked for must hold there too, or a launcher would boot a kernel it said it would refuse).
 */
export interface FlavorSubject {
  /** the config file to check; undefined when the image has none */
  config: string | undefined;
  /** names the kernel in the message, e.g. "the kernel's config" */
  what: string;
  /** what happened to DEST, for the hint, e.g. "nothing was installed" */
  outcome: string;
}

export async function requireFlavor(subject: FlavorSubject, flavorName: string): Promise<CheckReport> {
  if (subject.config === undefined) {
    throw kernelImageInvalid(
      'the image holds no kernel config, so it cannot be checked against a flavor',
      'pull without --flavor',
    );
  }
  const flavor = await loadFlavor(flavorName);
  const report = checkConfig(await readKernelConfig(subject.config), [flavor]);
  if (!report.ok) {
    const failures = report.flavors.flatMap((result) => result.failures.map((failure) => failure.message));
    throw new KartError(
      'REQUIREMENTS_UNMET',
      `${subject.what} does not meet flavor ${flavor.name}: ${failures.join('; ')}`,
      {
        exitCode: 1,
        hint: `${subject.outcome}; pull a kernel built for this flavor`,
        details: { failures },
      },
    );
  }
  return report;
}
