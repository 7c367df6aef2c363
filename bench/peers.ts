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

/** A bash script that pushes the graph with curl: POST + monolithic PUT per blob, then the manifests. */
export function curlPushScript(
  graph: LayoutGraph,
  registryUrl: string,
  repository: string,
  tag: string,
): string {
  const lines = ['set -euo pipefail', `base=${q(registryUrl)}`, `repo=${q(repository)}`];
  for (const blob of graph.blobs) {
    lines.push(
      `loc=$(curl -sS -f -o /dev/null -w '%header{location}' -X POST -H 'content-length: 0' "$base/v2/$repo/blobs/uploads/")`,
      `case "$loc" in http*) ;; *) loc="$base$loc" ;; esac`,
      `curl -sS -f -o /dev/null -X PUT -H 'content-type: application/octet-stream' -T ${q(blob.path)} "$loc&digest=${blob.digest}"`,
    );
  }
  for (const manifest of graph.manifests) {
    lines.push(
      `curl -sS -f -o /dev/null -X PUT -H ${q(`content-type: ${manifest.mediaType}`)} --data-binary @${q(manifest.path)} "$base/v2/$repo/manifests/${manifest.digest}"`,
    );
  }
  lines.push(
    `curl -sS -f -o /dev/null -X PUT -H ${q(`content-type: ${graph.index.mediaType}`)} --data-binary @${q(graph.index.path)} "$base/v2/$repo/manifests/${tag}"`,
  );
  return lines.join('\n');
}

/** A bash script that pulls the graph with curl, each blob written to `dir` and hashed as it lands. */
export function curlPullScript(
  graph: LayoutGraph,
  registryUrl: string,
  repository: string,
  tag: string,
  dir: string,
): string {
  const accept = `accept: ${graph.index.mediaType}`;
  const lines = [
    'set -euo pipefail',
    `base=${q(registryUrl)}`,
    `repo=${q(repository)}`,
    `mkdir -p ${q(dir)}`,
    `curl -sS -f -H ${q(accept)} "$base/v2/$repo/manifests/${tag}" | tee ${q(`${dir}/index`)} | sha256sum > /dev/null`,
  ];
  for (const blob of [...graph.manifests]) {
    lines.push(
      `curl -sS -f -H ${q(`accept: ${blob.mediaType}`)} "$base/v2/$repo/manifests/${blob.digest}" | tee ${q(`${dir}/${blob.digest.slice(7)}`)} | sha256sum > /dev/null`,
    );
  }
  for (const blob of graph.blobs) {
    lines.push(
      `curl -sS -f "$base/v2/$repo/blobs/${blob.digest}" | tee ${q(`${dir}/${blob.digest.slice(7)}`)} | sha256sum > /dev/null`,
    );
  }
  return lines.join('\n');
}
