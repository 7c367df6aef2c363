/**
 * `{name}` placeholders in a catalogue's build and tags values. Braces are not part of any path or tag
 * kart writes, so there is no escaping: a stray `{` or `}` is a mistake to report.
 */
export const CATALOGUE_PLACEHOLDERS = ['version', 'flavor', 'arch', 'ociArch'] as const;
export type CataloguePlaceholder = (typeof CATALOGUE_PLACEHOLDERS)[number];

const PLACEHOLDER = /\{([^{}]*)\}/g;

/** The problem with a pattern, in words, or undefined when it is well formed. */
export function patternProblem(pattern: string): string | undefined {
  for (const match of pattern.matchAll(PLACEHOLDER)) {
    const name = match[1] ?? '';
    if (!(CATALOGUE_PLACEHOLDERS as readonly string[]).includes(name)) {
      return `unknown placeholder {${name}} (known: ${CATALOGUE_PLACEHOLDERS.map((p) => `{${p}}`).join(' ')})`;
    }
  }
  const rest = pattern.replace(PLACEHOLDER, '');
  if (rest.includes('{') || rest.includes('}'))
    return 'has a "{" or "}" that is not part of a {name} placeholder';
  return undefined;
}

/** Expands a well-formed pattern (check it with patternProblem first). */
export function expandPattern(
  pattern: string,
  values: Readonly<Record<CataloguePlaceholder, string>>,
): string {
  return pattern.replace(PLACEHOLDER, (_, name: string) => values[name as CataloguePlaceholder]);
}
