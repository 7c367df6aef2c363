import type { Command } from 'commander';

/** `kart config`: not registered yet (its issue has not landed). */
export function register(_program: Command): void {}
