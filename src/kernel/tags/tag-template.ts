import { KartError } from '../../errors.ts';
import { assertValidTag } from './tag-name.ts';

/**
 * Tag templates, for tag schemes other than kart's own: text with `{name}` placeholders.
 *   {version}  the version as published (6.1.10, 7.3.0-rc3, 6.18.44-nvidia-595.91.07)
 *   {major} {minor} {patch}  its numeric parts; {series} = MAJOR.MINOR
 *   {config}   the 64 hex of KERNEL_CONFIG; {config12} its first 12
 *   any other name: a value the caller supplies (`values`), e.g. Kata's `{version}-{configVersion}`
 *   with configVersion=83, or LinuxKit's `{version}-{hash}` with its tree hash.
 * Braces cannot appear in a tag, so there is no escaping: a `{` or `}` that does not make a
 * placeholder is an error, as is a placeholder with no value. The expanded tag must match the OCI
 * tag grammar (TAG_INVALID names it).
 */
const PLACEHOLDER = /\{([a-zA-Z][a-zA-Z0-9_]*)\}/g;

function templateError(template: string, what: string, hint: string): KartError {
  return new KartError('TAG_TEMPLATE_INVALID', `tag template "${template}": ${what}`, {
    exitCode: 2,
    hint,
    details: { template },
  });
}

/** The placeholder names a template uses, in order; throws TAG_TEMPLATE_INVALID on stray braces. */
export function templatePlaceholders(template: string): string[] {
  if (template.length === 0) throw templateError(template, 'is empty', 'write e.g. {version}-{config12}');
  const names = [...template.matchAll(PLACEHOLDER)].map((m) => m[1] ?? '');
  const rest = template.replace(PLACEHOLDER, '');
  if (rest.includes('{') || rest.includes('}')) {
    throw templateError(
      template,
      'has a "{" or "}" that is not part of a {name} placeholder',
      'placeholders are {name} with a letter first, then letters, digits or "_"',
    );
  }
  return names;
}

/** Expands a template with `values`; a placeholder without a value is TAG_TEMPLATE_INVALID. */
export function expandTagTemplate(template: string, values: Readonly<Record<string, string>>): string {
  for (const name of templatePlaceholders(template)) {
    if (!Object.hasOwn(values, name)) {
      const known = Object.keys(values)
        .map((k) => `{${k}}`)
        .join(' ');
      throw templateError(
        template,
        `has no value for {${name}}`,
        `known placeholders: ${known}; supply other values with the template values option (e.g. ${name}=…)`,
      );
    }
  }
  const tag = template.replace(PLACEHOLDER, (_, name: string) => values[name] ?? '');
  assertValidTag(tag, `tag template "${template}"`);
  return tag;
}
