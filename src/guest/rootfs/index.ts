export {
  buildRootfsImage,
  type RootfsBuildOptions,
  type BuiltRootfs,
  type RootfsFsType,
} from './build-rootfs.ts';
export {
  rootfsLayout,
  imageSizeFor,
  headerWrites,
  type RootfsLayout,
  type ImageRange,
} from './image-layout.ts';
export { encodeMbr, chsBytes, type MbrPartition } from './mbr.ts';
export { encodeNdPfnInfo, ndFletcher64, type NdPfnInfo } from './nd-pfn-info.ts';
export { kataErofsImageMiB } from './erofs-filesystem.ts';
export { readImageFacts, type ImageFacts } from './read-image-layout.ts';
