/** What a kernel image file is, as told by its bytes. */
export type KernelImageFormat = 'bzImage' | 'Image' | 'Image.gz' | 'zboot' | 'vmlinux';

/** The architectures kart publishes, spelled as `uname -m` and KERNEL_ARCH spell them. */
export type KernelArch = 'x86_64' | 'aarch64';

/** Payload compression names, as the kernel's CONFIG_KERNEL_* options name them; `none` for raw images. */
export type KernelCompression = 'gzip' | 'bzip2' | 'lzma' | 'xz' | 'lzo' | 'lz4' | 'zstd' | 'none';

export interface KernelImageInfo {
  format: KernelImageFormat;
  arch: KernelArch;
  /** `uname -r`, e.g. 6.1.0-56-cloud-amd64 */
  release: string;
  /**
   * The version line the image carries, without its trailing newline. For Image, Image.gz and vmlinux
   * it is the kernel's `Linux version ...` banner; a bzImage's banner sits inside its compressed payload,
   * so there it is the setup header's kernel_version string (release, builder, build number, date),
   * unless inspectKernelImage was asked to decompress the payload (`payloadBanner`). An EFI zboot
   * image's banner is always read from its decompressed inner Image.
   */
  banner: string;
  /**
   * bzImage: the payload's compression (from its magic); zboot: the method its header names;
   * Image.gz: gzip; Image and vmlinux: none.
   */
  compression?: KernelCompression;
  /** bzImage only: the x86 boot protocol version, e.g. "2.15". */
  bootProtocol?: string;
}
