import type { Command } from 'commander';

/** `kart tag`: not registered yet (its issue has not landed). */
export function register(_program: Command): void {}
