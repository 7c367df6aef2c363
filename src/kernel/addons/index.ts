export { buildAddonsFromModules, type BuildAddonsOptions, type BuiltAddons } from './build-addons.ts';
export { resolveModulesTree, type ModulesTree } from './modules-tree.ts';
export {
  inspectSquashfs,
  SQUASHFS_COMPRESSIONS,
  type SquashfsCompression,
  type SquashfsInfo,
} from './squashfs-superblock.ts';
