import { KartError } from '../errors.ts';
import { array, looseObject, nullable, optional, string } from '../oci/json-shape.ts';
import { parseJson } from '../oci/schema.ts';
import { failure, header, readBoundedText, type RegistryHttpClient } from './http-client.ts';
import { displayUrl } from './registry-errors.ts';

/**
 * Lists a repository's tags, following `Link: <…>; rel="next"` pages (RFC 8288) rather than
 * guessing from page sizes. Next-page links must stay on the registry's origin, and the number of
 * pages is capped, so a hostile registry can neither redirect us elsewhere nor keep us paging forever.
 */
const TagListSchema = looseObject({
  name: optional(string()),
  tags: optional(nullable(array(string()))),
});

export interface TagListOptions {
  pageSize?: number;
  maxPages?: number;
}

/**
 * Every tag of a listing, once each and sorted: the spec promises lexical order, but registries
 * (distribution 2.8 among them) do not keep it across pages, so all pages are read (tag names are
 * small) and sorted here.
 */
export async function sortedTags(listing: AsyncIterable<string>): Promise<string[]> {
  const all: string[] = [];
  for await (const tag of listing) all.push(tag);
  return [...new Set(all)].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
}

export async function* listTags(
  client: RegistryHttpClient,
  repositoryUrl: URL,
  repository: string,
  name: string,
  options: TagListOptions = {},
  scopes: readonly string[] = [`repository:${repository}:pull`],
): AsyncGenerator<string> {
  const maxPages = options.maxPages ?? 1000;
  let url: URL | undefined = new URL('tags/list', repositoryUrl);
  if (options.pageSize) url.searchParams.set('n', String(options.pageSize));
  const what = `tags of ${name}`;
  for (let page = 0; url; page++) {
    if (page >= maxPages) {
      throw new KartError('TAG_LIST_TOO_LONG', `${what}: more than ${maxPages} pages of tags`, {
        exitCode: 3,
        hint: 'the registry keeps returning next pages; this looks like a registry fault',
      });
    }
    const answer = await client.request({
      method: 'GET',
      url,
      scopes,
      what,
    });
    if (answer.status !== 200) throw await failure(answer, what);
    const link = header(answer.headers, 'link');
    const list = parseJson(TagListSchema, await readBoundedText(answer.body, 4 * 1024 * 1024, what), what);
    for (const tag of list.tags ?? []) yield tag;
    url = nextPage(link, answer.url, what);
  }
}

/** The rel="next" target of a Link header, resolved and required to stay on `current`'s origin. */
export function nextPage(link: string | undefined, current: URL, what: string): URL | undefined {
  if (!link) return undefined;
  for (const part of link.split(',')) {
    const match = /<([^>]*)>\s*;(.*)$/.exec(part.trim());
    if (!match || !/rel="?next"?/i.test(match[2]!)) continue;
    const next = new URL(match[1]!, current);
    if (next.origin !== current.origin) {
      throw new KartError(
        'PAGE_LINK_INVALID',
        `${what}: the next-page link points to another origin (${displayUrl(next)})`,
        {
          exitCode: 3,
          hint: 'kart only follows pagination links on the registry it asked',
        },
      );
    }
    return next;
  }
  return undefined;
}
