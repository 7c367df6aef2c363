import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { prepareGuestBundle, type GuestBundleSource } from '../../guest/bundle/index.ts';
import type { ConfigPayload, PackBundlePart } from '../artifact/index.ts';
import { checkGuestKernelConfig } from './guest-requirements.ts';

/** publish's guest-bundle hook: the image (built or checked), then the kernel's fitness to boot it. */
export async function prepareBundle(
  source: GuestBundleSource,
  staging: string,
  config: ConfigPayload,
  configPath: string,
): Promise<PackBundlePart> {
  const work = join(staging, 'rootfs');
  await mkdir(work);
  const bundle = await prepareGuestBundle(source, work);
  await checkGuestKernelConfig(config.config, bundle, configPath);
  return {
    path: bundle.path,
    file: bundle.file,
    size: bundle.size,
    metadata: bundle.metadata,
    annotations: bundle.annotations,
  };
}
