export {
  formatKernelMetadata,
  parseKernelMetadata,
  MAX_METADATA_BYTES,
  type KernelMetadata,
  type ParsedKernelMetadata,
} from './metadata.ts';
