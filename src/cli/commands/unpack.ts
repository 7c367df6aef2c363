import type { Command } from 'commander';

/** `kart unpack`: not registered yet (its issue has not landed). */
export function register(_program: Command): void {}
