import type { Command } from 'commander';

/** `kart copy`: not registered yet (its issue has not landed). */
export function register(_program: Command): void {}
