import type { Command } from 'commander';

/** `kart logout`: not registered yet (its issue has not landed). */
export function register(_program: Command): void {}
