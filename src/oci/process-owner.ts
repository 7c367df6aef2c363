import { readFileSync, readlinkSync } from 'node:fs';

/**
 * Who a lock or a record belongs to, and whether that process still runs. A pid alone says little:
 * pids are reused, and a pid means nothing outside its pid namespace (a container with the host's
 * hostname but its own namespace sees another process, or none, under the same number) or on another
 * machine sharing the directory. So an owner records, besides its pid, its start time, the boot it
 * runs in and its pid namespace; only an owner of the same boot and namespace can be checked by pid.
 */
export interface ProcessOwner {
  pid: number;
  /** the owner's start time (Linux: clock ticks since boot, /proc/PID/stat field 22) */
  started?: number;
  /** /proc/sys/kernel/random/boot_id: tells machines (and reboots) apart, whatever their hostname */
  boot?: string;
  /** readlink /proc/self/ns/pid, e.g. `pid:[4026531836]`: the namespace the pid is numbered in */
  pidns?: string;
}

/** This process, as a lock or record names it. */
export function currentOwner(): ProcessOwner {
  return { pid: process.pid, ...optional('started', processStartTime(process.pid)), ...localScope() };
}

/** The boot and pid namespace of this process (each left out where unknown, e.g. off Linux). */
export function localScope(): { boot?: string; pidns?: string } {
  // Neither changes during a process's life (setns moves only its children into another pid namespace).
  scope ??= { ...optional('boot', bootId()), ...optional('pidns', pidNamespace()) };
  return scope;
}

let scope: { boot?: string; pidns?: string } | undefined;

/**
 * true: the owner runs; false: it is gone (its pid is free, or now names a process started at another
 * time); undefined: this process cannot tell (another machine or pid namespace, or an owner recorded
 * without them), so the caller must judge by something else, such as a heartbeat.
 */
export function ownerRunning(owner: Partial<ProcessOwner>): boolean | undefined {
  const here = localScope();
  if (typeof owner.pid !== 'number' || !Number.isSafeInteger(owner.pid) || owner.pid <= 0) return undefined;
  if (here.boot === undefined || here.pidns === undefined) return undefined;
  if (owner.boot !== here.boot || owner.pidns !== here.pidns) return undefined;
  if (!processAlive(owner.pid)) return false;
  if (typeof owner.started !== 'number') return true;
  const now = processStartTime(owner.pid);
  return now === undefined || now === owner.started;
}

/** When a process started (Linux /proc, clock ticks since boot); undefined where that is unknown. */
export function processStartTime(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
    // The command name (field 2) may hold spaces and parentheses: fields are counted after its last ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const value = Number(fields[19]);
    return Number.isSafeInteger(value) ? value : undefined;
  } catch {
    return undefined;
  }
}

/** Whether a process of this pid namespace is still running (EPERM: it is, but belongs to someone else). */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function bootId(): string | undefined {
  try {
    return readFileSync('/proc/sys/kernel/random/boot_id', 'latin1').trim() || undefined;
  } catch {
    return undefined;
  }
}

function pidNamespace(): string | undefined {
  try {
    return readlinkSync('/proc/self/ns/pid');
  } catch {
    return undefined;
  }
}

function optional<K extends string, V>(key: K, value: V | undefined): { [P in K]?: V } {
  return (value === undefined ? {} : { [key]: value }) as { [P in K]?: V };
}
