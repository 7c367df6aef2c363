import type { Command } from 'commander';
import { KartError } from '../errors.ts';

/**
 * The flags of every command that reaches a registry, defined once: how to reach it (`--plain-http`,
 * `--insecure`, `--ca-file`), shared by copy, push, pull, tag, tags, resolve, inspect, unpack,
 * publish and login; and `--concurrency` for the commands that move blobs. Each command turns them
 * into the registry room's options with transportOptions() / targetOptions().
 */
export interface TransportFlags {
  plainHttp?: boolean;
  insecure?: boolean;
  caFile?: string;
  timeout?: string;
}

/** The options the registry commands share (copy, push, pull, tag, tags, resolve). */
export interface RegistryCliOptions extends TransportFlags {
  concurrency?: string;
  json?: boolean;
  referrers?: boolean;
}

export interface TransportOptions {
  plainHttp: boolean;
  insecure: boolean;
  caFile?: string;
  /** --timeout: the whole operation's deadline (ms) */
  timeoutMs?: number;
}

export const MAX_CONCURRENCY = 64;

export function addTransportOptions(command: Command): Command {
  return command
    .option(
      '--plain-http',
      'talk HTTP, not HTTPS, to the registry (the default for localhost, 127.0.0.0/8 and [::1])',
    )
    .option('--insecure', "HTTPS without verifying the registry's certificate")
    .option('--ca-file <pem>', 'trust the CA certificates in this PEM file')
    .option(
      '--timeout <seconds>',
      'give up (exit 3) when the whole operation takes longer (default: 10 minutes plus time for the bytes to move at 32 KiB/s)',
    );
}

/** The transport flags and `--json`: what every registry command takes. */
export function addRegistryOptions(command: Command): Command {
  return addTransportOptions(command).option('--json', 'print the result as JSON');
}

export function addConcurrencyOption(command: Command, what: string): Command {
  return command.option('--concurrency <n>', `${what} at once (1 to ${MAX_CONCURRENCY})`, '4');
}

/** The transport flags as the registry room's options (openReference, login). */
export function transportOptions(flags: TransportFlags): TransportOptions {
  const timeoutMs = parseTimeoutSeconds(flags.timeout);
  return {
    plainHttp: flags.plainHttp === true,
    insecure: flags.insecure === true,
    ...(flags.caFile === undefined ? {} : { caFile: flags.caFile }),
    ...(timeoutMs === undefined ? {} : { timeoutMs }),
  };
}

/** `--concurrency N`: a whole number from 1 to 64, else CONCURRENCY_INVALID (exit 2). */
export function parseConcurrency(text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const value = Number(text);
  if (!/^[0-9]+$/.test(text) || value < 1 || value > MAX_CONCURRENCY) {
    throw new KartError(
      'CONCURRENCY_INVALID',
      `--concurrency ${text}: not a whole number from 1 to ${MAX_CONCURRENCY}`,
      { hint: 'pass e.g. --concurrency 4' },
    );
  }
  return value;
}

/** The shared options as openReference/copyReference options: transport, and concurrency if given. */
export function targetOptions(options: RegistryCliOptions): TransportOptions & { concurrency?: number } {
  const concurrency = parseConcurrency(options.concurrency);
  return { ...transportOptions(options), ...(concurrency === undefined ? {} : { concurrency }) };
}

/** `--timeout SECONDS`: a positive number of seconds, as ms; TIMEOUT_INVALID (exit 2) otherwise. */
export function parseTimeoutSeconds(text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const seconds = Number(text);
  if (!/^[0-9]+(\.[0-9]+)?$/.test(text.trim()) || !(seconds > 0)) {
    throw new KartError('TIMEOUT_INVALID', `--timeout ${text}: not a positive number of seconds`, {
      hint: 'pass e.g. --timeout 300 (five minutes for the whole operation)',
    });
  }
  return Math.round(seconds * 1000);
}
