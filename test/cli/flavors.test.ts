import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runKartSync } from '../support/kart-cli.ts';

const ROOT = resolve(import.meta.dirname, '../..');
const kart = (args: string[]) => runKartSync(args, { cwd: ROOT });

describe('kart flavors', () => {
  it('lists the shipped flavors', () => {
    expect(kart(['flavors'])).toEqual({
      code: 0,
      stdout: [
        'dm-verity  dm-verity rootfs enforced without an initramfs (dm-mod.create); combine with another flavor (5 required)',
        'host       Xen dom0 host kernel (krata/Edera hosts) (52 required; extends xen-guest; repository host-kernel)',
        'kvm-guest  KVM guest for Kata-style VMs (virtio, vsock, virtio-fs, 9p, NVDIMM/DAX rootfs) (37 required; 7 recommended)',
        "xen-guest  Xen guest minimum (krata's zone-wide/system-wide kernel requirements) (37 required)",
        'zone       Xen zone kernel (krata/Edera zones) (37 required; extends xen-guest; repository zone-kernel)',
        '',
      ].join('\n'),
      stderr: '',
    });
  });

  it('--json lists them as data', () => {
    const run = kart(['flavors', '--json']);
    expect(run.code).toBe(0);
    expect(JSON.parse(run.stdout)[4]).toEqual({
      name: 'zone',
      file: 'flavors/zone.ini',
      description: 'Xen zone kernel (krata/Edera zones)',
      repository: 'zone-kernel',
      addonsMaxBytes: 52428800,
      extends: ['xen-guest'],
      requirements: 37,
      recommendations: 0,
    });
  });

  it('shows one flavor with where each rule comes from', () => {
    const run = kart(['flavors', 'host']);
    expect(run.code).toBe(0);
    const lines = run.stdout.split('\n');
    expect(lines.slice(0, 5)).toEqual([
      'host (flavors/host.ini): Xen dom0 host kernel (krata/Edera hosts)',
      'extends: xen-guest',
      'repository: host-kernel',
      'addons_max_bytes: 419430400',
      '[require]',
    ]);
    expect(lines).toContain('CONFIG_XEN_MEMORY_HOTPLUG_LIMIT = 512  # flavors/xen-guest.ini:29');
    expect(lines).toContain('CONFIG_TCG_XEN = m  # flavors/host.ini:22');
    const json = JSON.parse(kart(['flavors', 'host', '--json']).stdout);
    expect(json.requirements).toHaveLength(52);
    expect(json.requirements.at(-1)).toEqual({
      symbol: 'CONFIG_XEN_MCE_LOG',
      ruleText: 'y',
      level: 'require',
      flavor: 'host',
      file: 'flavors/host.ini',
      line: 31,
    });
  });

  it('exits 2 for an unknown flavor', () => {
    expect(kart(['flavors', 'nosuch'])).toEqual({
      code: 2,
      stdout: '',
      stderr:
        'kart: error: unknown flavor "nosuch"\nkart: hint: the shipped flavors are dm-verity, host, kvm-guest, xen-guest, zone; or pass the path of your own flavor file (e.g. ./my-flavor.ini)\n',
    });
  });
});
