import { platformMatches, type Platform } from '../config/platform.js';

/** What a pull needs after reading one manifest. Pure. */
export type ManifestContent =
  | { kind: 'index'; entries: Array<{ digest: string; platform: Partial<Platform> | undefined }> }
  | { kind: 'image'; blobs: Array<{ digest: string; size: number }> };

export const INDEX_TYPES = ['application/vnd.oci.image.index.v1+json', 'application/vnd.docker.distribution.manifest.list.v2+json'];
export const IMAGE_TYPES = ['application/vnd.oci.image.manifest.v1+json', 'application/vnd.docker.distribution.manifest.v2+json'];
/** The Accept a multi-platform pull sends (containerd's list). */
export const MANIFEST_ACCEPT = [...INDEX_TYPES, ...IMAGE_TYPES].join(', ');

interface Descriptor {
  digest?: unknown;
  size?: unknown;
  platform?: Partial<Platform>;
}

export function readManifest(body: Buffer, contentType: string | null): ManifestContent | { error: string } {
  let doc: { mediaType?: unknown; manifests?: Descriptor[]; config?: Descriptor; layers?: Descriptor[] };
  try {
    doc = JSON.parse(body.toString('utf8'));
  } catch {
    return { error: 'manifest is not JSON' };
  }
  const mediaType = (contentType?.split(';')[0]?.trim() || (typeof doc.mediaType === 'string' ? doc.mediaType : '')) ?? '';
  const isIndex = INDEX_TYPES.includes(mediaType) || (!IMAGE_TYPES.includes(mediaType) && Array.isArray(doc.manifests));
  const digestOf = (d: Descriptor | undefined) => (d && typeof d.digest === 'string' && /^sha256:[a-f0-9]{64}$/.test(d.digest) ? d.digest : null);
  if (isIndex) {
    const entries = (doc.manifests ?? []).flatMap((d) => {
      const digest = digestOf(d);
      return digest ? [{ digest, platform: d.platform }] : [];
    });
    return { kind: 'index', entries };
  }
  if (!doc.config || !Array.isArray(doc.layers)) return { error: `unsupported manifest type ${mediaType || '(none)'}` };
  const blobs: Array<{ digest: string; size: number }> = [];
  for (const d of [doc.config, ...doc.layers]) {
    const digest = digestOf(d);
    if (!digest) return { error: 'manifest names a blob without a sha256 digest' };
    blobs.push({ digest, size: typeof d.size === 'number' ? d.size : 0 });
  }
  return { kind: 'image', blobs };
}

/** The index entries a pull of these platforms fetches, and the wanted platforms the index lacks. */
export function selectPlatforms(
  entries: Array<{ digest: string; platform: Partial<Platform> | undefined }>,
  wanted: Platform[],
): { chosen: Array<{ digest: string; platform: Platform }>; missing: Platform[] } {
  const chosen: Array<{ digest: string; platform: Platform }> = [];
  const missing: Platform[] = [];
  for (const p of wanted) {
    const entry = entries.find((e) => platformMatches(p, e.platform));
    if (!entry) missing.push(p);
    else if (!chosen.some((c) => c.digest === entry.digest)) chosen.push({ digest: entry.digest, platform: p });
  }
  return { chosen, missing };
}
