import { mkdtempSync, writeFileSync, mkdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { KartError } from '../../../src/errors.ts';
import { listFlavors, loadFlavor, MAX_FLAVOR_BYTES } from '../../../src/kernel/flavor/index.ts';
import type { Flavor } from '../../../src/kernel/flavor/index.ts';

// krata's doc/admin-guide/custom-kernels.md, "Minimum requirements for a zone-wide/system-wide kernel",
// copied verbatim: xen-guest must hold exactly these, in this order.
const KRATA_ZONE_MINIMUM = `CONFIG_XEN=y
CONFIG_XEN_PV=y
CONFIG_XEN_512GB=y
CONFIG_XEN_PV_SMP=y
CONFIG_XEN_PVHVM=y
CONFIG_XEN_PVHVM_SMP=y
CONFIG_XEN_PVHVM_GUEST=y
CONFIG_XEN_SAVE_RESTORE=y
CONFIG_XEN_PVH=y
CONFIG_XEN_PV_MSR_SAFE=y
CONFIG_PCI_XEN=y
CONFIG_NET_9P_XEN=y
CONFIG_XEN_PCIDEV_FRONTEND=y
CONFIG_XEN_BLKDEV_FRONTEND=y
CONFIG_XEN_NETDEV_FRONTEND=y
CONFIG_INPUT_XEN_KBDDEV_FRONTEND=y
CONFIG_HVC_XEN=y
CONFIG_HVC_XEN_FRONTEND=y
CONFIG_XEN_FBDEV_FRONTEND=m
CONFIG_XEN_BALLOON=y
CONFIG_XEN_BALLOON_MEMORY_HOTPLUG=y
CONFIG_XEN_MEMORY_HOTPLUG_LIMIT=512
CONFIG_XEN_SCRUB_PAGES_DEFAULT=y
CONFIG_XEN_DEV_EVTCHN=y
CONFIG_XEN_BACKEND=y
CONFIG_XENFS=y
CONFIG_XEN_COMPAT_XENFS=y
CONFIG_XEN_SYS_HYPERVISOR=y
CONFIG_XEN_XENBUS_FRONTEND=y
CONFIG_SWIOTLB_XEN=y
CONFIG_XEN_HAVE_PVMMU=y
CONFIG_XEN_EFI=y
CONFIG_XEN_AUTO_XLATE=y
CONFIG_XEN_ACPI=y
CONFIG_XEN_HAVE_VPMU=y
CONFIG_XEN_GRANT_DMA_OPS=y
CONFIG_XEN_VIRTIO=y`;

// The same document, "Minimum requirements for a host kernel", verbatim.
const KRATA_HOST_ADDITIONS = `CONFIG_XEN_PV_DOM0=y
CONFIG_XEN_DOM0=y
CONFIG_PCI_XEN=y
CONFIG_XEN_PCIDEV_BACKEND=y
CONFIG_XEN_BLKDEV_BACKEND=y
CONFIG_XEN_NETDEV_BACKEND=y
CONFIG_XEN_SCSI_BACKEND=y
CONFIG_XEN_PVCALLS_BACKEND=y
CONFIG_TCG_XEN=m
CONFIG_XEN_WDT=y
CONFIG_XEN_DEV_EVTCHN=y
CONFIG_XEN_GNTDEV=y
CONFIG_XEN_GRANT_DEV_ALLOC=y
CONFIG_XEN_GRANT_DMA_ALLOC=y
CONFIG_SWIOTLB_XEN=y
CONFIG_XEN_PRIVCMD=y
CONFIG_XEN_ACPI_PROCESSOR=y
CONFIG_XEN_MCE_LOG=y`;

const asLines = (flavor: Flavor, filter?: string): string[] =>
  flavor.requirements
    .filter((r) => filter === undefined || r.file === filter)
    .map((r) => `${r.symbol}=${r.ruleText}`);

const scratch = mkdtempSync(join(tmpdir(), 'kart-flavor-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

function write(name: string, text: string): string {
  const path = join(scratch, name);
  mkdirSync(join(path, '..'), { recursive: true });
  writeFileSync(path, text);
  return path;
}

async function loadError(nameOrPath: string): Promise<KartError> {
  const error = await loadFlavor(nameOrPath).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(KartError);
  return error as KartError;
}

describe('shipped flavors', () => {
  it('xen-guest is krata zone-wide minimum list, every option and value as written, in order', async () => {
    const flavor = await loadFlavor('xen-guest');
    expect(asLines(flavor)).toEqual(KRATA_ZONE_MINIMUM.split('\n'));
    expect(flavor.file).toBe('flavors/xen-guest.ini');
    expect(flavor.requirements[0]).toMatchObject({
      symbol: 'CONFIG_XEN',
      file: 'flavors/xen-guest.ini',
      line: 8,
    });
    expect(flavor.requirements.at(-1)).toMatchObject({ symbol: 'CONFIG_XEN_VIRTIO', line: 44 });
    expect(flavor.recommendations).toEqual([]);
  });

  it('zone extends xen-guest with repository zone-kernel and a 52428800-byte addons limit', async () => {
    const zone = await loadFlavor('zone');
    expect(zone).toMatchObject({
      name: 'zone',
      repository: 'zone-kernel',
      addonsMaxBytes: 52428800,
      extends: ['xen-guest'],
    });
    expect(asLines(zone)).toEqual(KRATA_ZONE_MINIMUM.split('\n'));
    // inherited rules still point at the file and line that wrote them
    expect(
      zone.requirements.every((r) => r.file === 'flavors/xen-guest.ini' && r.flavor === 'xen-guest'),
    ).toBe(true);
  });

  it('host is the zone list plus krata dom0 list, repository host-kernel, 419430400-byte addons limit', async () => {
    const host = await loadFlavor('host');
    expect(host).toMatchObject({
      repository: 'host-kernel',
      addonsMaxBytes: 419430400,
      extends: ['xen-guest'],
    });
    expect(asLines(host, 'flavors/host.ini')).toEqual(KRATA_HOST_ADDITIONS.split('\n'));
    const all = new Set(asLines(host));
    expect(all).toEqual(new Set([...KRATA_ZONE_MINIMUM.split('\n'), ...KRATA_HOST_ADDITIONS.split('\n')]));
    // a symbol both lists name is attributed to host.ini, the flavor's own file
    expect(host.requirements.find((r) => r.symbol === 'CONFIG_SWIOTLB_XEN')).toMatchObject({
      file: 'flavors/host.ini',
      line: 28,
    });
  });

  it('kvm-guest and dm-verity require what Kata guests and initramfs-less verity need', async () => {
    const kvm = await loadFlavor('kvm-guest');
    for (const symbol of [
      'CONFIG_VIRTIO_PCI',
      'CONFIG_VIRTIO_MMIO',
      'CONFIG_VIRTIO_BLK',
      'CONFIG_VIRTIO_NET',
      'CONFIG_VIRTIO_CONSOLE',
      'CONFIG_VIRTIO_VSOCKETS',
      'CONFIG_VIRTIO_FS',
      'CONFIG_FUSE_FS',
      'CONFIG_NET_9P_VIRTIO',
      'CONFIG_9P_FS',
      'CONFIG_LIBNVDIMM',
      'CONFIG_FS_DAX',
      'CONFIG_KVM_GUEST',
      'CONFIG_PARAVIRT',
    ]) {
      expect(kvm.requirements.find((r) => r.symbol === symbol)?.ruleText, symbol).toBe('y');
    }
    const verity = await loadFlavor('dm-verity');
    expect(asLines(verity)).toEqual([
      'CONFIG_MD=y',
      'CONFIG_BLK_DEV_DM=y',
      'CONFIG_DM_INIT=y',
      'CONFIG_DM_VERITY=y',
      'CONFIG_CRYPTO_SHA256=y',
    ]);
  });

  it('listFlavors lists every shipped file, sorted', async () => {
    const list = await listFlavors();
    expect(list.map((f) => [f.name, f.requirements, f.repository])).toEqual([
      ['dm-verity', 5, undefined],
      ['host', 52, 'host-kernel'],
      ['kvm-guest', 37, undefined],
      ['xen-guest', 37, undefined],
      ['zone', 37, 'zone-kernel'],
    ]);
  });
});

describe('user flavors and extends', () => {
  it('a flavor by path may extend shipped flavors and files relative to itself; its own rule replaces an inherited one', async () => {
    write('base/common.ini', '[require]\nCONFIG_DM_INIT = m\nCONFIG_BPF = y\n');
    const path = write(
      'base/mine.ini',
      'description = mine\nextends = zone, dm-verity, ./common.ini\n[require]\nCONFIG_XEN_VIRTIO = n\n[recommend]\nCONFIG_BPF = y\n',
    );
    const flavor = await loadFlavor(path);
    expect(flavor.name).toBe('mine');
    expect(flavor.file).toBe(path); // outside the working directory: shown absolute
    expect(flavor.repository).toBeUndefined(); // repository and limits are not inherited
    const find = (symbol: string) =>
      [...flavor.requirements, ...flavor.recommendations].find((r) => r.symbol === symbol);
    expect(find('CONFIG_XEN_VIRTIO')).toMatchObject({ ruleText: 'n', file: path, line: 4, level: 'require' });
    expect(find('CONFIG_DM_INIT')).toMatchObject({
      ruleText: 'm',
      file: join(scratch, 'base/common.ini'),
      line: 2,
    });
    expect(find('CONFIG_BPF')).toMatchObject({ level: 'recommend', file: path, line: 6 });
    expect(find('CONFIG_XEN')).toMatchObject({ file: 'flavors/xen-guest.ini', line: 8 });
    expect(flavor.requirements).toHaveLength(37 + 5);
  });

  it('a cycle in extends is an error naming the file and line that closes it', async () => {
    write('cycle/a.ini', 'extends = ./b.ini\n');
    write('cycle/b.ini', '# b\nextends = zone, ./c.ini\n');
    write('cycle/c.ini', '\n\nextends = ./a.ini\n');
    const error = await loadError(join(scratch, 'cycle/a.ini'));
    expect(error.code).toBe('FLAVOR_EXTENDS_CYCLE');
    expect(error.message).toBe(
      `${join(scratch, 'cycle/c.ini')}:3: extends "./a.ini" makes a cycle: a → b → c → a`,
    );
    expect(error.exitCode).toBe(2);
  });

  it('a flavor extending itself is a cycle', async () => {
    const self = write('self.ini', 'description = me\nextends = ./self.ini\n');
    const error = await loadError(self);
    expect([error.code, error.message]).toEqual([
      'FLAVOR_EXTENDS_CYCLE',
      `${self}:2: extends "./self.ini" makes a cycle: self → self`,
    ]);
  });

  it('an unknown flavor name lists the shipped ones', async () => {
    const error = await loadError('zonee');
    expect([error.code, error.message, error.hint, error.exitCode]).toEqual([
      'FLAVOR_NOT_FOUND',
      'unknown flavor "zonee"',
      'the shipped flavors are dm-verity, host, kvm-guest, xen-guest, zone; or pass the path of your own flavor file (e.g. ./my-flavor.ini)',
      2,
    ]);
    expect((await loadError('../zone')).code).toBe('FLAVOR_NOT_FOUND');
    expect((await loadError('Zone')).message).toBe('unknown flavor "Zone"');
  });

  it('an unknown flavor in extends names the file and line', async () => {
    const path = write('bad-extends.ini', 'description = x\n\nextends = zone, nosuch\n');
    const error = await loadError(path);
    expect([error.code, error.message]).toEqual(['FLAVOR_NOT_FOUND', `${path}:3: unknown flavor "nosuch"`]);
  });

  it('a missing flavor file and an unreadable one are errors naming the path', async () => {
    const missing = join(scratch, 'missing.ini');
    const error = await loadError(missing);
    expect([error.code, error.message]).toEqual(['FLAVOR_NOT_FOUND', `flavor file not found: ${missing}`]);
    const dir = join(scratch, 'dir.ini');
    mkdirSync(dir);
    const unreadable = await loadError(dir);
    expect(unreadable.code).toBe('FLAVOR_UNREADABLE');
    expect(unreadable.message).toBe(
      `cannot read flavor file ${dir}: EISDIR: illegal operation on a directory, read`,
    );
  });

  it('a file larger than MAX_FLAVOR_BYTES is refused without reading it all', async () => {
    const big = write('big.ini', `# ${'x'.repeat(MAX_FLAVOR_BYTES)}\n`);
    const error = await loadError(big);
    expect([error.code, error.message]).toEqual([
      'FLAVOR_TOO_LARGE',
      `flavor file ${big} is larger than 1048576 bytes; it is not a flavor file`,
    ]);
    const zero = await loadError('/dev/zero');
    expect(zero.code).toBe('FLAVOR_TOO_LARGE');
  });

  it('a syntax error in an extended file names that file and line', async () => {
    const broken = write('deep/broken.ini', '[require]\nCONFIG_A = y\nCONFIG_B = maybe\n');
    const path = write('deep/top.ini', 'extends = ./broken.ini\n');
    const error = await loadError(path);
    expect(error.code).toBe('FLAVOR_BAD_RULE');
    expect(error.message.startsWith(`${broken}:3: CONFIG_B: unknown rule "maybe"`)).toBe(true);
  });
});
