/**
 * Reads a tagged graph straight from an OCI layout directory's files (no kart code): the root the
 * tag names in index.json, then every manifest, config and layer below it. Each blob file is checked
 * against its descriptor (size and sha256), so a test comparing two layouts' graphs has checked every
 * digest of both.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

export interface GraphNode {
  mediaType: string;
  digest: string;
  size: number;
}

interface Listing {
  manifests?: GraphNode[];
  config?: GraphNode;
  layers?: GraphNode[];
}

export function layoutGraph(dir: string, tag: string): GraphNode[] {
  const index = JSON.parse(readFileSync(join(dir, 'index.json'), 'utf8')) as {
    manifests: Array<GraphNode & { annotations?: Record<string, string> }>;
  };
  const root = index.manifests.find((m) => m.annotations?.['org.opencontainers.image.ref.name'] === tag);
  if (root === undefined) throw new Error(`${dir} has no tag ${tag}`);
  const nodes: GraphNode[] = [];
  const visit = (desc: GraphNode): void => {
    const bytes = readFileSync(join(dir, 'blobs', 'sha256', desc.digest.slice('sha256:'.length)));
    const digest = `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
    if (digest !== desc.digest || bytes.length !== desc.size) {
      throw new Error(`${dir}: blob ${desc.digest} holds ${bytes.length} bytes hashing to ${digest}`);
    }
    nodes.push({ mediaType: desc.mediaType, digest: desc.digest, size: desc.size });
    if (!desc.mediaType.endsWith('+json') || !/manifest|index/.test(desc.mediaType)) return;
    const listing = JSON.parse(bytes.toString('utf8')) as Listing;
    for (const child of [...(listing.manifests ?? []), ...(listing.config ? [listing.config] : [])]) {
      visit(child);
    }
    for (const layer of listing.layers ?? []) visit(layer);
  };
  visit({ mediaType: root.mediaType, digest: root.digest, size: root.size });
  return nodes;
}
