import { ensureDebianKernel } from './debian-kernels.ts';

/** Runs once before any test worker: fetch the real kernels every room's tests use. */
export default function setup(): void {
  ensureDebianKernel('cloud-amd64');
  ensureDebianKernel('amd64');
}
