export { inspectKernelImage, type InspectKernelImageOptions } from './inspect-kernel-image.ts';
export { readEmbeddedConfig, type EmbeddedConfig } from './embedded-config.ts';
export { looksLikeKernelImage } from './sniff-kernel-image.ts';
export { BannerScanner, MAX_BANNER_BYTES, type KernelBanner } from './banner-scanner.ts';
export type { KernelArch, KernelCompression, KernelImageFormat, KernelImageInfo } from './types.ts';
