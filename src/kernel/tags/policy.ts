import { KartError } from '../../errors.ts';
import {
  compareKernelVersions,
  isPrerelease,
  isReleaseVersion,
  parseKernelVersion,
  type KernelVersion,
} from './kernel-version.ts';
import { assertValidTag } from './tag-name.ts';
import { expandTagTemplate } from './tag-template.ts';

/**
 * The tag policy: which tags a publish of version V sets.
 *   V                      always
 *   MAJOR.MINOR, MAJOR     when V is the highest release of that series / major among the existing tags
 *   latest                 when V is the highest release of all
 *   V-<config12>           immutable: ties a tag to one KERNEL_CONFIG; publish refuses to move it
 *   extras, templates      what the caller asks for
 * "Highest" is kernel version order (kernel-version.ts) over the existing tags that are release-shaped
 * versions (X.Y.Z) of the same variant; every other tag (latest, 6.1, stable, V-<config12>, …) is ignored.
 * V itself may be among them (a republish): V still counts as highest when nothing is above it.
 *
 * Decisions beyond the issue's text, and why:
 * - A prerelease (7.3.0-rc3) takes no moving alias, and holds none: if 6.11.0-rc1 took `6`, everyone
 *   pulling `6` would get an rc. So a prerelease gets V and its immutable tag; 6.10.5 published after
 *   6.11.0-rc1 still takes `6` and `latest`; 7.3.0 released after 7.3.0-rc3 takes `7.3`, `7`, `latest`.
 * - A variant (6.18.44-nvidia-595.91.07) competes only with its own variant, and its aliases carry the
 *   variant: `6.18-nvidia-595.91.07`, `6-nvidia-595.91.07`, `latest-nvidia-595.91.07` (krata's scheme).
 * - An extra or template tag that names a different kernel release (`--tag 6.1.11` on 6.1.10) is refused,
 *   because the next publish would read it as that release and compute aliases from a lie.
 */
export type TagReason = 'version' | 'series' | 'major' | 'latest' | 'immutable' | 'extra' | 'template';

export interface PlannedTag {
  tag: string;
  reason: TagReason;
  /** An immutable tag must never move to other content (unless the user forces it). */
  immutable: boolean;
}

export interface TagTemplate {
  template: string;
  /** Whether tags made by this template are immutable (e.g. LinuxKit's `{version}-{hash}`). */
  immutable?: boolean;
}

export interface TagPlanInput {
  /** The version being published, release-shaped (6.1.10, 7.3.0-rc3, 6.18.44-nvidia-595.91.07). */
  version: string;
  /** KERNEL_CONFIG: `sha256:` + 64 lowercase hex of the uncompressed .config. */
  configDigest: string;
  /** Every tag the repository has now (all pages); non-version tags are fine and ignored. */
  existingTags: Iterable<string>;
  /** Turns the moving aliases (series, major, latest) off. */
  noAlias?: boolean;
  /** `--tag` extras, set as given. */
  extraTags?: readonly string[];
  /** Other tag schemes: see tag-template.ts for the syntax. */
  template?: string | TagTemplate | readonly (string | TagTemplate)[];
  /** Values for the template's own placeholders, e.g. { configVersion: '83' } or { hash: '…' }. */
  templateValues?: Readonly<Record<string, string>>;
}

export interface TagPlan {
  version: KernelVersion;
  /** In the order: version, series, major, latest, immutable, extras, templates; no duplicates. */
  tags: PlannedTag[];
}

const CONFIG_DIGEST = /^sha256:([0-9a-f]{64})$/;
const CONFIG12_SUFFIX = /(?:^|-)[0-9a-f]{12}$/;

/** Parses V for publishing; VERSION_INVALID unless it is a release-shaped kernel version. */
export function parsePublishVersion(version: string): KernelVersion {
  const parsed = parseKernelVersion(version);
  if (parsed === undefined || !isReleaseVersion(parsed)) {
    throw new KartError(
      'VERSION_INVALID',
      `version "${version}" is not a kernel release version (MAJOR.MINOR.PATCH, optionally -rcN and a -variant)`,
      {
        exitCode: 2,
        hint:
          parsed === undefined
            ? 'write it like 6.1.10, 7.3.0-rc3 or 6.18.44-nvidia-595.91.07'
            : `"${version}" is an alias tag; publish the release it stands for, e.g. ${[...parsed.numbers, 0, 0].slice(0, 3).join('.')}`,
        details: { version },
      },
    );
  }
  return parsed;
}

function config12(configDigest: string): { hex: string; short: string } {
  const match = CONFIG_DIGEST.exec(configDigest);
  if (!match?.[1]) {
    throw new KartError('CONFIG_DIGEST_INVALID', `config digest "${configDigest}" is not sha256:<64 hex>`, {
      exitCode: 2,
      hint: 'pass KERNEL_CONFIG: "sha256:" + sha256sum of the uncompressed .config, lowercase',
      details: { configDigest },
    });
  }
  return { hex: match[1], short: match[1].slice(0, 12) };
}

/** The immutable tag of V with this config: `V-<first 12 hex of KERNEL_CONFIG>`. */
export function immutableTagFor(version: string, configDigest: string): string {
  const tag = `${version}-${config12(configDigest).short}`;
  assertValidTag(tag, `immutable tag of ${version}`);
  return tag;
}

/** True when a tag has the shape of kart's immutable tags (a release version ending in -<12 hex>). */
export function looksLikeImmutableTag(tag: string): boolean {
  const parsed = parseKernelVersion(tag);
  return (
    parsed !== undefined &&
    isReleaseVersion(parsed) &&
    parsed.variant !== undefined &&
    CONFIG12_SUFFIX.test(parsed.variant)
  );
}

/** The alias tags of a version: plain for plain versions, suffixed with the variant for variants. */
function aliasNames(v: KernelVersion): { series: string; major: string; latest: string } {
  const suffix = v.variant === undefined ? '' : `-${v.variant}`;
  const [major, minor] = v.numbers;
  return { series: `${major}.${minor}${suffix}`, major: `${major}${suffix}`, latest: `latest${suffix}` };
}

/** Whether V is at least every release of its variant in `competitors` that `sameGroup` selects. */
function isHighest(
  v: KernelVersion,
  competitors: readonly KernelVersion[],
  sameGroup: (c: KernelVersion) => boolean,
): boolean {
  return competitors.every((c) => !sameGroup(c) || compareKernelVersions(c, v) <= 0);
}

/** Whether `tag` may stand for V: the same numbers and rc, and not a plain tag for a variant build. */
function mayStandFor(tag: KernelVersion, v: KernelVersion): boolean {
  const sameNumbers =
    tag.rc === v.rc &&
    tag.numbers.length === v.numbers.length &&
    tag.numbers.every((n, i) => n === v.numbers[i]);
  return sameNumbers && (tag.variant !== undefined || v.variant === undefined);
}

/** Refuses a requested tag that reads as a different kernel release than V (see the module comment). */
function refuseForeignRelease(tag: string, v: KernelVersion, what: string): void {
  const parsed = parseKernelVersion(tag);
  if (parsed === undefined || !isReleaseVersion(parsed) || mayStandFor(parsed, v)) return;
  throw new KartError('TAG_INVALID', `${what}: "${tag}" reads as another kernel release than ${v.text}`, {
    exitCode: 2,
    hint: 'a release-shaped tag must belong to the version it points at, or the tag policy would misread it; pick another tag',
    details: { tag, version: v.text },
  });
}

function templatesOf(input: TagPlanInput['template']): TagTemplate[] {
  if (input === undefined) return [];
  const list = typeof input === 'string' || !Array.isArray(input) ? [input] : input;
  return (list as readonly (string | TagTemplate)[]).map((t) =>
    typeof t === 'string' ? { template: t } : t,
  );
}

function templateValuesFor(v: KernelVersion, configDigest: string, user: Readonly<Record<string, string>>) {
  const { hex, short } = config12(configDigest);
  const builtIn: Record<string, string> = {
    version: v.text,
    major: String(v.numbers[0]),
    minor: String(v.numbers[1]),
    patch: String(v.numbers[2]),
    series: `${v.numbers[0]}.${v.numbers[1]}`,
    config: hex,
    config12: short,
  };
  for (const name of Object.keys(user)) {
    if (Object.hasOwn(builtIn, name)) {
      throw new KartError(
        'TAG_TEMPLATE_INVALID',
        `template value "${name}" is built in and cannot be supplied`,
        {
          exitCode: 2,
          hint: `built-in placeholders: ${Object.keys(builtIn)
            .map((k) => `{${k}}`)
            .join(' ')}`,
          details: { name },
        },
      );
    }
  }
  return { ...builtIn, ...user };
}

/**
 * Plans the tags for publishing `version`. Pure: the caller reads the repository's tags (all pages)
 * and applies the plan. Throws VERSION_INVALID, CONFIG_DIGEST_INVALID, TAG_INVALID (naming the tag),
 * TAG_TEMPLATE_INVALID.
 */
export function planTags(input: TagPlanInput): TagPlan {
  const v = parsePublishVersion(input.version);
  const planned: PlannedTag[] = [];
  const add = (tag: string, reason: TagReason, immutable: boolean, what: string): void => {
    assertValidTag(tag, what);
    const earlier = planned.find((p) => p.tag === tag);
    if (earlier) earlier.immutable ||= immutable;
    else planned.push({ tag, reason, immutable });
  };

  add(v.text, 'version', false, 'version tag');

  if (!input.noAlias && !isPrerelease(v)) {
    const releases = [...input.existingTags]
      .map(parseKernelVersion)
      .filter((c): c is KernelVersion => c !== undefined && isReleaseVersion(c) && !isPrerelease(c))
      .filter((c) => c.variant === v.variant);
    const aliases = aliasNames(v);
    const [major, minor] = v.numbers;
    if (isHighest(v, releases, (c) => c.numbers[0] === major && c.numbers[1] === minor)) {
      add(aliases.series, 'series', false, 'series alias');
    }
    if (isHighest(v, releases, (c) => c.numbers[0] === major))
      add(aliases.major, 'major', false, 'major alias');
    if (isHighest(v, releases, () => true)) add(aliases.latest, 'latest', false, 'latest alias');
  }

  add(immutableTagFor(v.text, input.configDigest), 'immutable', true, 'immutable tag');

  for (const tag of input.extraTags ?? []) {
    assertValidTag(tag, '--tag');
    refuseForeignRelease(tag, v, '--tag');
    add(tag, 'extra', false, '--tag');
  }

  const templates = templatesOf(input.template);
  if (templates.length > 0) {
    const values = templateValuesFor(v, input.configDigest, input.templateValues ?? {});
    for (const { template, immutable } of templates) {
      const tag = expandTagTemplate(template, values);
      refuseForeignRelease(tag, v, `tag template "${template}"`);
      add(tag, 'template', immutable ?? false, `tag template "${template}"`);
    }
  }

  return { version: v, tags: planned };
}

/** A tag about to be set: what it points at now (undefined when new) and what it would point at. */
export interface TagMove {
  tag: PlannedTag;
  current: string | undefined;
  next: string;
}

/**
 * Whether setting this tag moves an immutable tag to other content. Pass the digests of the content
 * the immutable tag vouches for: for a multi-arch index, compare the platform manifest of the arch being
 * published (adding another arch's platform to the index is not a move).
 */
export function isImmutableTagMove(move: TagMove): boolean {
  return move.tag.immutable && move.current !== undefined && move.current !== move.next;
}

/** Throws TAG_IMMUTABLE listing every immutable tag the moves would change, unless `force`. */
export function refuseImmutableTagMoves(moves: readonly TagMove[], options: { force?: boolean } = {}): void {
  if (options.force) return;
  const refused = moves.filter(isImmutableTagMove);
  if (refused.length === 0) return;
  const list = refused.map((m) => `${m.tag.tag} (${m.current} → ${m.next})`).join(', ');
  throw new KartError('TAG_IMMUTABLE', `immutable tag${refused.length > 1 ? 's' : ''} would move: ${list}`, {
    exitCode: 2,
    hint: 'an immutable tag names one build for good; publish under a new version or config, or pass --force to move it anyway',
    details: { tags: refused.map((m) => ({ tag: m.tag.tag, current: m.current, next: m.next })) },
  });
}
