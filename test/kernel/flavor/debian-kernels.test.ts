import { readFileSync } from 'node:fs';
import { beforeAll, describe, expect, it } from 'vitest';
import { readKernelConfig } from '../../../src/kernel/config/index.ts';
import { checkConfig, listFlavors, loadFlavor } from '../../../src/kernel/flavor/index.ts';
import type { CheckReport, Flavor, FlavorCheckResult } from '../../../src/kernel/flavor/index.ts';
import { debianKernelPaths, type DebianFlavor } from '../../support/debian-kernels.ts';

/**
 * Debian's real kernel configs (linux-image-cloud-amd64 and linux-image-amd64) against every shipped
 * flavor. Each specific assertion below can be confirmed by hand with grep on the config, e.g.
 *   grep -n 'CONFIG_XEN_VIRTIO' .cache/debian-kernels/cloud-amd64/boot/config-*
 * and every result is also cross-checked against an independent grep-like reading of the raw text.
 */

let flavors: Flavor[];
beforeAll(async () => {
  flavors = await Promise.all((await listFlavors()).map((summary) => loadFlavor(summary.name)));
});

/** What grep sees for a symbol: the last `CONFIG_X=...` or `# CONFIG_X is not set` line, if any. */
function grepSymbol(lines: string[], symbol: string): { line: number; actual: string } | undefined {
  let found: { line: number; actual: string } | undefined;
  lines.forEach((text, index) => {
    if (text === `# ${symbol} is not set`) found = { line: index + 1, actual: 'not set' };
    else if (text.startsWith(`${symbol}=`))
      found = { line: index + 1, actual: text.slice(symbol.length + 1) };
  });
  return found;
}

function result(report: CheckReport, flavor: string): FlavorCheckResult {
  const found = report.flavors.find((f) => f.flavor === flavor);
  if (!found) throw new Error(`no result for ${flavor}`);
  return found;
}

function failure(report: CheckReport, flavor: string, symbol: string) {
  return result(report, flavor).failures.find((f) => f.symbol === symbol);
}

for (const debian of ['cloud-amd64', 'amd64'] as DebianFlavor[]) {
  describe(`Debian linux-image-${debian}`, () => {
    const paths = debianKernelPaths(debian);
    const lines = readFileSync(paths.config, 'utf8').split('\n');
    let report: CheckReport;
    beforeAll(async () => {
      report = checkConfig(await readKernelConfig(paths.config), flavors);
    });

    it('is checked against every shipped flavor, and meets none of them', () => {
      expect(report.flavors.map((f) => f.flavor)).toEqual([
        'dm-verity',
        'host',
        'kvm-guest',
        'xen-guest',
        'zone',
      ]);
      expect(report.flavors.map((f) => f.ok)).toEqual([false, false, false, false, false]);
      expect(report.ok).toBe(false);
      expect(report.configWarnings).toEqual([]);
    });

    it('every verdict, actual value and config line agrees with a plain reading of the file', () => {
      let compared = 0;
      for (const flavorResult of report.flavors) {
        for (const r of flavorResult.requirements) {
          const seen = grepSymbol(lines, r.symbol);
          expect(r.actual, r.symbol).toBe(seen?.actual ?? 'absent');
          expect(r.configLine, r.symbol).toBe(seen?.line);
          // every shipped rule is y, m or a plain number
          const expectedOk =
            r.rule === 'y'
              ? seen?.actual === 'y'
              : r.rule === 'm'
                ? ['y', 'm'].includes(seen?.actual ?? '')
                : seen?.actual === r.rule;
          expect(r.ok, `${flavorResult.flavor} ${r.symbol} ${r.rule}`).toBe(expectedOk);
          compared++;
        }
      }
      expect(compared).toBe(5 + 52 + 37 + 37 + 37);
    });

    it('fails CONFIG_XEN_VIRTIO, which is "# CONFIG_XEN_VIRTIO is not set", for every Xen flavor, naming xen-guest.ini:44', () => {
      for (const flavor of ['xen-guest', 'zone', 'host']) {
        const f = failure(report, flavor, 'CONFIG_XEN_VIRTIO');
        expect(f).toMatchObject({
          actual: 'not set',
          rule: 'y',
          flavorFile: 'flavors/xen-guest.ini',
          flavorLine: 44,
        });
        expect(lines[(f?.configLine ?? 0) - 1]).toBe('# CONFIG_XEN_VIRTIO is not set');
        expect(f?.message).toBe(
          `CONFIG_XEN_VIRTIO requires y but is not set (${paths.config}:${f?.configLine}; required by flavors/xen-guest.ini:44)`,
        );
      }
    });

    it('meets CONFIG_XEN_MEMORY_HOTPLUG_LIMIT=512 and CONFIG_XEN_FBDEV_FRONTEND=m (it is y, which m accepts)', () => {
      const zone = result(report, 'zone').requirements;
      expect(zone.find((r) => r.symbol === 'CONFIG_XEN_MEMORY_HOTPLUG_LIMIT')).toMatchObject({
        ok: true,
        actual: '512',
      });
      expect(zone.find((r) => r.symbol === 'CONFIG_XEN_FBDEV_FRONTEND')).toMatchObject({
        ok: true,
        rule: 'm',
        actual: 'y',
      });
    });

    it('fails dm-verity: CONFIG_DM_INIT is absent and CONFIG_BLK_DEV_DM and CONFIG_DM_VERITY are modules', () => {
      expect(result(report, 'dm-verity').failures.map((f) => `${f.symbol}=${f.actual}`)).toEqual([
        'CONFIG_BLK_DEV_DM=m',
        'CONFIG_DM_INIT=absent',
        'CONFIG_DM_VERITY=m',
      ]);
      expect(failure(report, 'dm-verity', 'CONFIG_DM_INIT')?.configLine).toBeUndefined();
    });

    it('fails kvm-guest on virtio built as modules (CONFIG_VIRTIO_BLK=m), yet has CONFIG_KVM_GUEST=y', () => {
      expect(failure(report, 'kvm-guest', 'CONFIG_VIRTIO_BLK')).toMatchObject({
        actual: 'm',
        flavorFile: 'flavors/kvm-guest.ini',
        flavorLine: 17,
      });
      expect(
        result(report, 'kvm-guest').requirements.find((r) => r.symbol === 'CONFIG_KVM_GUEST'),
      ).toMatchObject({ ok: true, actual: 'y' });
    });
  });
}

describe('Debian kernels: where cloud and generic differ', () => {
  it('cloud lacks dom0 (# CONFIG_XEN_DOM0 is not set) and 9p over Xen (absent); generic has CONFIG_XEN_DOM0=y and CONFIG_NET_9P_XEN=m', async () => {
    const host = await loadFlavor('host');
    const xen = await loadFlavor('xen-guest');
    const cloud = checkConfig(await readKernelConfig(debianKernelPaths('cloud-amd64').config), [host, xen]);
    const generic = checkConfig(await readKernelConfig(debianKernelPaths('amd64').config), [host, xen]);
    expect(failure(cloud, 'host', 'CONFIG_XEN_DOM0')).toMatchObject({
      actual: 'not set',
      flavorFile: 'flavors/host.ini',
      flavorLine: 15,
    });
    expect(failure(generic, 'host', 'CONFIG_XEN_DOM0')).toBeUndefined();
    expect(failure(cloud, 'xen-guest', 'CONFIG_NET_9P_XEN')).toMatchObject({
      actual: 'absent',
      flavorLine: 19,
    });
    expect(failure(generic, 'xen-guest', 'CONFIG_NET_9P_XEN')).toMatchObject({ actual: 'm', flavorLine: 19 });
    // the generic kernel is the closer one to a Xen dom0
    expect(result(generic, 'host').failures.length).toBeLessThan(result(cloud, 'host').failures.length);
  });
});
