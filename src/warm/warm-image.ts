import { readManifest, selectPlatforms } from './manifest.js';
import { formatPlatform, type Platform } from '../config/platform.js';
import type { RouterClient } from './router-client.js';
import type { WarmTarget } from './warm-target.js';

/** Progress of one image, as the API, the status page and the CLI show it. */
export interface WarmImageProgress {
  image: string;
  cache: string | null;
  state: 'pending' | 'running' | 'done' | 'failed';
  /** Digest the reference resolved to (the index, or the image manifest). */
  digest: string | null;
  /** Platforms fetched, and those asked for that the index does not have. */
  platforms: string[];
  missingPlatforms: string[];
  manifests: number;
  /** Config and layer blobs: fetched / to fetch. */
  blobs: { done: number; total: number };
  bytes: number;
  /** A periodic run found the reference at the digest it fetched last time, and fetched nothing more. */
  unchanged: boolean;
  error: string | null;
}

export function pendingImage(image: string, cache: string | null): WarmImageProgress {
  return {
    image,
    cache,
    state: 'pending',
    digest: null,
    platforms: [],
    missingPlatforms: [],
    manifests: 0,
    blobs: { done: 0, total: 0 },
    bytes: 0,
    unchanged: false,
    error: null,
  };
}

/** What an image resolved to: every manifest and blob a pull of the chosen platforms reads (what a pin keeps). */
export interface ImageContent {
  repository: string;
  /** The reference's digest: the index, or the image manifest. */
  digest: string;
  /** The index (if any) and the chosen platforms' manifests; size is the body's length. */
  manifests: Array<{ digest: string; size: number }>;
  /** Configs and layers, sizes as the manifests declare them. */
  blobs: Array<{ digest: string; size: number }>;
}

const BLOB_CONCURRENCY = 4;

/**
 * Pulls one image through the router as a client would: the reference, then (for an index) the chosen
 * platforms' manifests by digest, then every config and layer blob once, digests checked. Each request
 * passes the router's caches and the registry cache, so all of them fill. Updates `progress` in place.
 * Resolves with the image's content once every blob is fetched; null when it failed or was unchanged.
 * `onPlanned` hears the content as soon as the manifests are read, before the blobs are fetched.
 */
export async function warmImage(
  target: WarmTarget,
  platforms: Platform[],
  client: RouterClient,
  progress: WarmImageProgress,
  opts: { onChange?: () => void; unchangedIf?: string; onPlanned?: (content: ImageContent) => void } = {},
): Promise<ImageContent | null> {
  const onChange = opts.onChange ?? (() => {});
  const { host, ref } = target;
  progress.state = 'running';
  onChange();
  try {
    const reference = ref.digest ?? ref.tag!;
    const top = await client.manifest(host, ref.repository, reference);
    progress.digest = top.digest;
    progress.manifests++;
    if (opts.unchangedIf === top.digest) {
      progress.unchanged = true;
      progress.state = 'done';
      onChange();
      return null;
    }
    // containerd resolves a tag, then GETs the manifest by digest: that fills the router's digest cache too.
    if (!ref.digest) {
      await client.manifest(host, ref.repository, top.digest);
      progress.manifests++;
    }
    const content = readManifest(top.body, top.contentType);
    if ('error' in content) throw new Error(`${reference}: ${content.error}`);
    const images: Array<{ digest: string; body: Buffer; contentType: string | null }> = [];
    const manifests = [{ digest: top.digest, size: top.body.length }];
    if (content.kind === 'index') {
      const { chosen, missing } = selectPlatforms(content.entries, platforms);
      progress.missingPlatforms = missing.map(formatPlatform);
      if (chosen.length === 0) {
        const offered = content.entries.map((e) => (e.platform?.os ? formatPlatform(e.platform as Platform) : 'unknown')).join(', ');
        throw new Error(`none of the platforms ${platforms.map(formatPlatform).join(', ')} in the index (it has ${offered})`);
      }
      for (const c of chosen) {
        const m = await client.manifest(host, ref.repository, c.digest);
        progress.manifests++;
        progress.platforms.push(formatPlatform(c.platform));
        images.push({ digest: c.digest, body: m.body, contentType: m.contentType });
        manifests.push({ digest: c.digest, size: m.body.length });
        onChange();
      }
    } else {
      images.push({ digest: top.digest, body: top.body, contentType: top.contentType });
    }
    const blobs = new Map<string, number>();
    for (const image of images) {
      const m = readManifest(image.body, image.contentType);
      if ('error' in m || m.kind !== 'image') throw new Error(`${image.digest}: ${'error' in m ? m.error : 'an index inside an index'}`);
      for (const b of m.blobs) blobs.set(b.digest, b.size);
    }
    progress.blobs.total = blobs.size;
    onChange();
    const resolved: ImageContent = {
      repository: ref.repository,
      digest: top.digest,
      manifests,
      blobs: [...blobs].map(([digest, size]) => ({ digest, size })),
    };
    opts.onPlanned?.(resolved);
    const queue = [...blobs.keys()];
    const worker = async () => {
      for (let digest = queue.shift(); digest; digest = queue.shift()) {
        try {
          await client.blob(host, ref.repository, digest, (n) => {
            progress.bytes += n;
          });
        } catch (err) {
          queue.length = 0; // the image failed: the other workers stop after their current blob
          throw err;
        }
        progress.blobs.done++;
        onChange();
      }
    };
    await Promise.all(Array.from({ length: Math.min(BLOB_CONCURRENCY, queue.length) }, worker));
    progress.state = 'done';
    onChange();
    return resolved;
  } catch (err) {
    progress.state = 'failed';
    progress.error = (err as Error).message;
  }
  onChange();
  return null;
}
