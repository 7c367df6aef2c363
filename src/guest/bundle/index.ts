export { prepareGuestBundle, type GuestBundle, type GuestBundleSource } from './prepare-bundle.ts';
export { checkStagedGuest, readInstalledGuest, type InstalledGuest } from './installed-bundle.ts';
export { checkImageVerity } from './check-image-verity.ts';
export * from './bundle-keys.ts';
