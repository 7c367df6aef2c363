import type { Command } from 'commander';

/** `kart publish`: not registered yet (its issue has not landed). */
export function register(_program: Command): void {}
