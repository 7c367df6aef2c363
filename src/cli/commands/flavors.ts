import type { Command } from 'commander';
import { action, printJson, printLine } from '../output.ts';

/** `kart flavors [NAME]`: the shipped flavors, or one flavor's rules with where each comes from. */
export function register(program: Command): void {
  program
    .command('flavors')
    .description('list the shipped flavors, or show the rules of one (a name or a flavor file path)')
    .argument('[flavor]', 'a flavor name or flavor file path to show in full')
    .option('--json', 'print JSON')
    .action(
      action(async (name: string | undefined, options: { json?: boolean }) => {
        const { listFlavors, loadFlavor } = await import('../../kernel/flavor/index.ts');
        if (name !== undefined) {
          const flavor = await loadFlavor(name);
          if (options.json) {
            printJson({
              ...flavor,
              requirements: flavor.requirements.map(({ rule: _rule, ...rest }) => rest),
              recommendations: flavor.recommendations.map(({ rule: _rule, ...rest }) => rest),
            });
            return;
          }
          printLine(`${flavor.name} (${flavor.file}): ${flavor.description}`);
          if (flavor.extends.length > 0) printLine(`extends: ${flavor.extends.join(', ')}`);
          if (flavor.repository !== undefined) printLine(`repository: ${flavor.repository}`);
          if (flavor.addonsMaxBytes !== undefined) printLine(`addons_max_bytes: ${flavor.addonsMaxBytes}`);
          for (const [title, rules] of [
            ['require', flavor.requirements],
            ['recommend', flavor.recommendations],
          ] as const) {
            if (rules.length === 0) continue;
            printLine(`[${title}]`);
            for (const rule of rules)
              printLine(`${rule.symbol} = ${rule.ruleText}  # ${rule.file}:${rule.line}`);
          }
          return;
        }
        const flavors = await listFlavors();
        if (options.json) {
          printJson(flavors);
          return;
        }
        const width = Math.max(...flavors.map((f) => f.name.length));
        for (const flavor of flavors) {
          const extras = [
            `${flavor.requirements} required`,
            ...(flavor.recommendations > 0 ? [`${flavor.recommendations} recommended`] : []),
            ...(flavor.extends.length > 0 ? [`extends ${flavor.extends.join(', ')}`] : []),
            ...(flavor.repository !== undefined ? [`repository ${flavor.repository}`] : []),
          ];
          printLine(`${flavor.name.padEnd(width)}  ${flavor.description} (${extras.join('; ')})`);
        }
      }),
    );
}
