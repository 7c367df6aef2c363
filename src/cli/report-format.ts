/** The report formats `kart check` and `kart audit` print, and the one reading of `--format`/`--json`. */
export const REPORT_FORMATS = ['text', 'json', 'github', 'junit'] as const;
export type ReportFormat = (typeof REPORT_FORMATS)[number];

/**
 * The format asked for (`--json` wins); an unknown one is a usage error (exit 2). KartError is loaded
 * only here, when a command runs, so `kart --help` stays free of the library.
 */
export async function reportFormatOf(options: { format: string; json?: boolean }): Promise<ReportFormat> {
  const format = options.json === true ? 'json' : options.format;
  if ((REPORT_FORMATS as readonly string[]).includes(format)) return format as ReportFormat;
  const { KartError } = await import('../errors.ts');
  throw new KartError('CHECK_BAD_FORMAT', `unknown --format ${JSON.stringify(format)}`, {
    hint: `use one of ${REPORT_FORMATS.join(', ')}`,
    exitCode: 2,
  });
}
