/** The Kata guest half: dm-verity, the kernel's verity line, the rootless image builder, bundles. */
export * from './verity/index.ts';
export * from './boot/index.ts';
export * from './rootfs/index.ts';
export * from './bundle/index.ts';
