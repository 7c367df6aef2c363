import type { Command } from 'commander';

/** `kart check`: not registered yet (its issue has not landed). */
export function register(_program: Command): void {}
