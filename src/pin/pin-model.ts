import { createHash } from 'node:crypto';
import type { ImageContent } from '../warm/warm-image.js';

/** Where a pin comes from: `pin: true` in the config's warm list, or POST /api/v1/pins. */
export type PinSource = 'config' | 'api';

/**
 * One pinned image in one cache. Its set is the content its reference resolved to (index, the chosen
 * platforms' manifests, configs, layers); while a re-resolution fetches a new set, that one is pinned too.
 */
export interface Pin {
  id: string;
  source: PinSource;
  /** Canonical reference (`docker.io/library/alpine:3.19`, or `…@sha256:…`). */
  image: string;
  cache: string;
  platforms: string[];
  /** resolving: no complete set yet; pinned: `content` is complete; failed: the last resolution failed (a set it had stays). */
  state: 'resolving' | 'pinned' | 'failed';
  content: ImageContent | null;
  pending: ImageContent | null;
  resolvedAt: string | null;
  error: string | null;
  createdAt: string;
}

/** A pin as the API and the status page show it. */
export interface PinView {
  id: string;
  source: PinSource;
  image: string;
  cache: string;
  platforms: string[];
  state: Pin['state'];
  /** What the reference resolved to (index or manifest digest). */
  digest: string | null;
  /** Manifests and blobs kept, and their bytes (as the manifests declare them). */
  digests: number;
  bytes: number;
  resolvedAt: string | null;
  error: string | null;
  createdAt: string;
}

export function pinId(source: PinSource, image: string): string {
  return `${source === 'api' ? 'a' : 'c'}${createHash('sha256').update(image).digest('hex').slice(0, 12)}`;
}

function entries(content: ImageContent | null): Array<{ digest: string; size: number }> {
  return content ? [...content.manifests, ...content.blobs] : [];
}

/** Digest → size of everything a pin holds: its set and the one being fetched. */
function held(pin: Pin): Map<string, number> {
  const out = new Map<string, number>();
  for (const e of [...entries(pin.content), ...entries(pin.pending)]) out.set(e.digest, e.size);
  return out;
}

export function pinView(pin: Pin): PinView {
  const current = entries(pin.content);
  return {
    id: pin.id,
    source: pin.source,
    image: pin.image,
    cache: pin.cache,
    platforms: pin.platforms,
    state: pin.state,
    digest: pin.content?.digest ?? null,
    digests: current.length,
    bytes: current.reduce((n, e) => n + e.size, 0),
    resolvedAt: pin.resolvedAt,
    error: pin.error,
    createdAt: pin.createdAt,
  };
}

/** Every digest pinned in one cache. Pure. */
export function pinnedDigests(pins: readonly Pin[], cache: string): Set<string> {
  const out = new Set<string>();
  for (const pin of pins) if (pin.cache === cache) for (const d of held(pin).keys()) out.add(d);
  return out;
}

/** Pinned bytes per cache (a digest pinned by two images counts once) and overall. Pure. */
export function pinTotals(pins: readonly Pin[]): { caches: Record<string, number>; bytes: number } {
  const byCache = new Map<string, Map<string, number>>();
  for (const pin of pins) {
    const digests = byCache.get(pin.cache) ?? new Map<string, number>();
    for (const e of entries(pin.content)) digests.set(e.digest, e.size);
    byCache.set(pin.cache, digests);
  }
  const caches: Record<string, number> = {};
  let bytes = 0;
  for (const [cache, digests] of [...byCache].sort(([a], [b]) => a.localeCompare(b))) {
    caches[cache] = [...digests.values()].reduce((n, s) => n + s, 0);
    bytes += caches[cache]!;
  }
  return { caches, bytes };
}

/** The repository and kind of every pinned digest of a cache: what the expiry keeper restores. Pure. */
export function pinnedEntries(pins: readonly Pin[], cache: string): Array<{ digest: string; repository: string; kind: 'manifest' | 'blob' }> {
  const out = new Map<string, { digest: string; repository: string; kind: 'manifest' | 'blob' }>();
  for (const pin of pins) {
    if (pin.cache !== cache) continue;
    for (const content of [pin.content, pin.pending]) {
      if (!content) continue;
      for (const m of content.manifests)
        out.set(`${content.repository}|${m.digest}`, { digest: m.digest, repository: content.repository, kind: 'manifest' });
      for (const b of content.blobs) out.set(`${content.repository}|${b.digest}`, { digest: b.digest, repository: content.repository, kind: 'blob' });
    }
  }
  return [...out.values()];
}
