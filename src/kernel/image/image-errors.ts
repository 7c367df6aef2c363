import { KartError } from '../../errors.ts';

// Every error names the file and says what kart expected to find there; all are input errors (exit 2).

const WHAT_KART_READS =
  'an x86 bzImage ("HdrS" at 0x202), an arm64 Image ("ARM\\x64" at 0x38), an arm64 Image.gz (gzip), an EFI zboot image ("zimg" at 4) or a vmlinux ELF';
const PASS_THE_BUILT_KERNEL =
  'pass the built kernel: arch/x86/boot/bzImage, arch/arm64/boot/Image, Image.gz or vmlinuz.efi, vmlinux, or /boot/vmlinuz-<release>';

export function imageUnreadable(path: string, cause: unknown): KartError {
  const code = (cause as NodeJS.ErrnoException | undefined)?.code;
  if (code === 'ENOENT') {
    return new KartError('IMAGE_NOT_FOUND', `kernel image ${path} does not exist`, {
      hint: 'check the path of --kernel',
      cause,
    });
  }
  return new KartError('IMAGE_UNREADABLE', `cannot read kernel image ${path}: ${code ?? String(cause)}`, {
    hint: 'the kernel image must be a readable regular file',
    cause,
  });
}

export function imageEmpty(path: string): KartError {
  return new KartError('IMAGE_EMPTY', `kernel image ${path} is empty; expected ${WHAT_KART_READS}`, {
    hint: PASS_THE_BUILT_KERNEL,
  });
}

export function imageUnknown(path: string, found: string): KartError {
  return new KartError(
    'IMAGE_UNKNOWN',
    `${path} is not a kernel image kart recognizes (${found}); expected ${WHAT_KART_READS}`,
    { hint: PASS_THE_BUILT_KERNEL },
  );
}

/** The format was recognized, but the file ends before `what`. */
export function imageTruncated(path: string, format: string, what: string): KartError {
  return new KartError('IMAGE_TRUNCATED', `${format} ${path} is truncated: it ends before ${what}`, {
    hint: 'the file was cut short (an interrupted copy or download?); take it again from the build',
  });
}

/** `where` says what was searched, e.g. 'no "Linux version <release> ..." banner'. */
export function imageNoBanner(path: string, format: string, where: string): KartError {
  return new KartError('IMAGE_NO_BANNER', `${format} ${path} holds ${where}, so its release is unknown`, {
    hint: 'is this a Linux kernel? kart reads the release from the banner every kernel build embeds',
  });
}

export function imageArchUnsupported(path: string, format: string, found: string): KartError {
  return new KartError(
    'IMAGE_ARCH_UNSUPPORTED',
    `${format} ${path} is a ${found} kernel; kart handles 64-bit little-endian x86_64 and aarch64 kernels`,
    { hint: 'build the kernel for x86_64 or arm64' },
  );
}

export function imageCorrupt(path: string, format: string, detail: string): KartError {
  return new KartError('IMAGE_CORRUPT', `${format} ${path} is corrupt: ${detail}`, {
    hint: 'the file is damaged; take it again from the build',
  });
}
