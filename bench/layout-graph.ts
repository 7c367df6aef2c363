/**
 * What the curl floor needs to know about a packed artifact: every blob of the tagged graph (index,
 * manifests, config, layers) with its file in the layout. Bench inputs are our own, so plain JSON.parse.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

export interface GraphBlob {
  digest: string;
  size: number;
  mediaType: string;
  path: string;
}

export interface LayoutGraph {
  index: GraphBlob;
  manifests: GraphBlob[];
  /** configs and layers */
  blobs: GraphBlob[];
}

interface Desc {
  digest: string;
  size: number;
  mediaType: string;
  annotations?: Record<string, string>;
}

export function layoutGraph(layoutDir: string, tag: string): LayoutGraph {
  const blobPath = (digest: string) => join(layoutDir, 'blobs', ...digest.split(':'));
  const withPath = (d: Desc): GraphBlob => ({
    digest: d.digest,
    size: d.size,
    mediaType: d.mediaType,
    path: blobPath(d.digest),
  });
  const top = JSON.parse(readFileSync(join(layoutDir, 'index.json'), 'utf8')) as { manifests: Desc[] };
  const tagged = top.manifests.find((m) => m.annotations?.['org.opencontainers.image.ref.name'] === tag);
  if (!tagged) throw new Error(`bench: no tag ${tag} in ${layoutDir}`);
  const index = JSON.parse(readFileSync(blobPath(tagged.digest), 'utf8')) as { manifests: Desc[] };
  const manifests = index.manifests.map(withPath);
  const blobs = index.manifests.flatMap((m) => {
    const manifest = JSON.parse(readFileSync(blobPath(m.digest), 'utf8')) as { config: Desc; layers: Desc[] };
    return [manifest.config, ...manifest.layers].map(withPath);
  });
  return { index: withPath(tagged), manifests, blobs };
}
