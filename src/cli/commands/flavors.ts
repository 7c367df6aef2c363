import type { Command } from 'commander';

/** `kart flavors`: not registered yet (its issue has not landed). */
export function register(_program: Command): void {}
