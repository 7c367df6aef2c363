import { ensureDebianAddons, ensureDebianKernel } from './debian-kernels.ts';

/** Runs once before any test worker: fetch the real kernels every room's tests use, squash the cloud one's modules. */
export default async function setup(): Promise<void> {
  ensureDebianKernel('cloud-amd64');
  ensureDebianKernel('amd64');
  await ensureDebianAddons('cloud-amd64');
}
