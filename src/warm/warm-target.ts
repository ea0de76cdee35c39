import { firstMirrors } from '../config/mirror-order.js';
import type { RegcacheConfig } from '../config/model.js';
import { formatImageReference, parseImageReference, type ImageReference } from '../config/image-reference.js';

/** An image and the cache that serves it: what warm fetches, through the router, by that cache's vhost. */
export interface WarmTarget {
  /** Canonical reference (`docker.io/library/alpine:3.19`). */
  image: string;
  ref: ImageReference;
  cache: string;
  /** The vhost warm sends as Host. */
  host: string;
}

/** Maps a reference to the first cache (in mirror order) whose mirrorOf is its registry host. Pure. */
export function resolveWarmTarget(text: string, config: RegcacheConfig): WarmTarget | { image: string; error: string } {
  const ref = parseImageReference(text);
  if ('error' in ref) return { image: text, error: ref.error };
  const image = formatImageReference(ref);
  const cache = firstMirrors(config.registries).find((r) => r.mirrorOf === ref.registry);
  if (!cache)
    return {
      image,
      error: `no cache mirrors ${ref.registry} (registries' mirrorOf: ${[...new Set(config.registries.map((r) => r.mirrorOf))].join(', ')})`,
    };
  return { image, ref, cache: cache.name, host: cache.hosts[0]! };
}
