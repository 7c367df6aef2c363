/** The lint rule that keeps imports pointing cli → kernel/guest/signature → registry → oci fires. */
import { ESLint } from 'eslint';
import { describe, expect, it } from 'vitest';

const eslint = new ESLint();

async function violations(filePath: string, code: string): Promise<string[]> {
  const [result] = await eslint.lintText(code, { filePath });
  return result!.messages.map((m) => `${m.ruleId}: ${m.message}`);
}

describe('import direction', () => {
  it('src/oci may not import registry, statically or dynamically', async () => {
    const code = [
      "import { header } from '../registry/http-client.ts';",
      'export const h = header;',
      "export const later = () => import('../kernel/pull/index.ts');",
      '',
    ].join('\n');
    const message =
      'src/oci may not import registry, kernel, guest, signature, cli: imports point cli → kernel/guest/signature → registry → oci (docs/ARCHITECTURE.md)';
    expect(await violations('src/oci/fixture.ts', code)).toEqual([
      `no-restricted-imports: '../registry/http-client.ts' import is restricted from being used by a pattern. ${message}`,
      `no-restricted-syntax: ${message}`,
    ]);
  });

  it('src/registry may not import kernel; src/kernel may not import cli; the other way is fine', async () => {
    expect(
      await violations('src/registry/auth/fixture.ts', "export * from '../../kernel/cache/index.ts';\n"),
    ).toHaveLength(1);
    expect(
      await violations('src/kernel/pull/fixture.ts', "export * from '../../cli/output.ts';\n"),
    ).toHaveLength(1);
    expect(await violations('src/cli/fixture.ts', "export * from '../kernel/pull/index.ts';\n")).toEqual([]);
    expect(
      await violations('src/kernel/pull/fixture.ts', "export * from '../../registry/index.ts';\n"),
    ).toEqual([]);
    expect(await violations('src/registry/fixture.ts', "export * from '../oci/index.ts';\n")).toEqual([]);
  });
});
