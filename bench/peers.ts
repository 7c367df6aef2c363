/**
 * The commands kart is measured against: skopeo (default and like-for-like) and the curl floor (the
 * registry's own speed: POST + PUT of each blob, GET of each blob hashed as it lands).
 */
import { rmSync } from 'node:fs';
import type { LayoutGraph } from './layout-graph.ts';

/**
 * skopeo remembers where it has seen blobs (and then mounts or skips them); as root the cache lives
 * here. It is removed before every skopeo run so each run moves all its bytes, like kart's.
 */
export const SKOPEO_BLOB_INFO_CACHE = '/var/lib/containers/cache/blob-info-cache-v1.boltdb';

export function clearSkopeoCache(): void {
  rmSync(SKOPEO_BLOB_INFO_CACHE, { force: true });
  rmSync(`${process.env.HOME ?? '/root'}/.local/share/containers/cache/blob-info-cache-v1.boltdb`, {
    force: true,
  });
}

/**
 * skopeo oci: → docker://. Default: it gzips the uncompressed layers on the way (other bytes, other
 * digests). Like-for-like: --preserve-digests forbids changing the image, so the same bytes move.
 */
export function skopeoPushArgs(
  layout: string,
  tag: string,
  destination: string,
  likeForLike: boolean,
): string[] {
  return [
    'copy',
    '--quiet',
    '--dest-tls-verify=false',
    ...(likeForLike ? ['--preserve-digests'] : []),
    '--all',
    `oci:${layout}:${tag}`,
    `docker://${destination}`,
  ];
}

/**
 * skopeo docker:// → oci:. Default: it gzips uncompressed layers into the layout. Like-for-like:
 * --dest-oci-accept-uncompressed-layers keeps them as they are (plus --preserve-digests).
 */
export function skopeoPullArgs(source: string, layout: string, tag: string, likeForLike: boolean): string[] {
  return [
    'copy',
    '--quiet',
    '--src-tls-verify=false',
    ...(likeForLike ? ['--dest-oci-accept-uncompressed-layers', '--preserve-digests'] : []),
    '--all',
    `docker://${source}`,
    `oci:${layout}:${tag}`,
  ];
}

const q = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

/**
 * A bash script that pushes the graph with curl, as a floor should: one curl opens every upload (POST,
 * the locations written out), one curl PUTs every blob monolithically over one kept-alive connection,
 * one curl PUTs the manifests and the index. Three processes, whatever the number of blobs.
 */
export function curlPushScript(
  graph: LayoutGraph,
  registryUrl: string,
  repository: string,
  tag: string,
): string {
  const posts = graph.blobs
    .map(
      () =>
        `-f -o /dev/null -w '%header{location}\\n' -X POST -H 'content-length: 0' "$base/v2/$repo/blobs/uploads/"`,
    )
    .join(' --next ');
  const lines = [
    'set -euo pipefail',
    `base=${q(registryUrl)}`,
    `repo=${q(repository)}`,
    `mapfile -t locs < <(curl -sS -f ${posts})`,
    'abs() { case "$1" in http*) echo "$1" ;; *) echo "$base$1" ;; esac; }',
    'puts=()',
  ];
  graph.blobs.forEach((blob, i) => {
    lines.push(
      `puts+=(${i === 0 ? '' : '--next '}-f -o /dev/null -X PUT -H 'content-type: application/octet-stream' -T ${q(blob.path)} "$(abs "\${locs[${i}]}")&digest=${blob.digest}")`,
    );
  });
  lines.push('curl -sS -f "${puts[@]}"');
  const manifestPuts = [
    ...graph.manifests.map(
      (m) =>
        `-f -o /dev/null -X PUT -H ${q(`content-type: ${m.mediaType}`)} --data-binary @${q(m.path)} "$base/v2/$repo/manifests/${m.digest}"`,
    ),
    `-f -o /dev/null -X PUT -H ${q(`content-type: ${graph.index.mediaType}`)} --data-binary @${q(graph.index.path)} "$base/v2/$repo/manifests/${tag}"`,
  ];
  lines.push(`curl -sS -f ${manifestPuts.join(' --next ')}`);
  return lines.join('\n');
}

/**
 * A bash script that pulls the graph as the floor of what any verified pull must do: one curl fetches
 * the index, the manifests and every blob over one connection into files, one openssl checks every
 * digest (read back from the page cache), and `sync FILE...` fsyncs them, as kart does before it
 * reports success. Before this the floor spawned two processes per blob and hashed with coreutils'
 * sha256sum (half the speed of OpenSSL here), which made it no floor at all.
 */
export function curlPullScript(
  graph: LayoutGraph,
  registryUrl: string,
  repository: string,
  tag: string,
  dir: string,
): string {
  const file = (digest: string) => `${dir}/${digest.slice(7)}`;
  const gets = [
    `-f -H ${q(`accept: ${graph.index.mediaType}`)} -o ${q(file(graph.index.digest))} "$base/v2/$repo/manifests/${tag}"`,
    ...graph.manifests.map(
      (m) =>
        `-f -H ${q(`accept: ${m.mediaType}`)} -o ${q(file(m.digest))} "$base/v2/$repo/manifests/${m.digest}"`,
    ),
    ...graph.blobs.map((b) => `-f -o ${q(file(b.digest))} "$base/v2/$repo/blobs/${b.digest}"`),
  ];
  const all = [graph.index, ...graph.manifests, ...graph.blobs];
  // `openssl dgst -sha256 -r` prints "<hex> *<file>"; the expected list is compared as a whole.
  const expected = all.map((b) => `${b.digest.slice(7)} *${file(b.digest)}`).join('\\n');
  return [
    'set -euo pipefail',
    `base=${q(registryUrl)}`,
    `repo=${q(repository)}`,
    `mkdir -p ${q(dir)}`,
    `curl -sS -f ${gets.join(' --next ')}`,
    `diff <(printf '%b\\n' ${q(expected)}) <(openssl dgst -sha256 -r ${all.map((b) => q(file(b.digest))).join(' ')})`,
    `sync ${all.map((b) => q(file(b.digest))).join(' ')}`,
  ].join('\n');
}
