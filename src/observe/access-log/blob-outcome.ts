import type { AccessLogEntry } from './access-log-entry.js';

export type BlobOutcome = 'hit' | 'miss' | 'unknown';

/** nginx proxy_cache statuses that mean nginx answered from its own cache, without asking the registry. */
const NGINX_CACHE_HITS = new Set(['HIT', 'STALE', 'UPDATING', 'REVALIDATED']);

export function isNginxCacheHit(entry: AccessLogEntry): boolean {
  return entry.cacheStatus !== null && NGINX_CACHE_HITS.has(entry.cacheStatus);
}

/** Blob downloads are the requests that count as a blob hit or miss: a GET answered with content. */
export function isBlobDownload(entry: AccessLogEntry): boolean {
  return entry.kind === 'blob' && entry.method === 'GET' && entry.status >= 200 && entry.status < 300 && entry.digest !== null;
}

/**
 * Whether a blob download was served from the cache (hit) or fetched from the upstream (miss).
 *
 * distribution 2.8's own blob counters cannot say (its proxy never counts a blob miss and counts a
 * miss as two hits), so regcache decides from what it can observe:
 * - nginx answered from its proxy cache → hit;
 * - otherwise the registry's storage: a blob whose data file was written before the request started
 *   was already cached → hit. Written during or after the request, or absent (still being stored, or
 *   storing failed) → the registry fetched it from the upstream → miss.
 *
 * `storedAtMs` is the mtime of the blob's data file, null when absent, undefined when this runtime
 * gives no view of its storage (the outcome is then unknown, never guessed).
 */
export function blobOutcome(entry: AccessLogEntry, storedAtMs: number | null | undefined): BlobOutcome {
  if (isNginxCacheHit(entry)) return 'hit';
  if (storedAtMs === undefined) return 'unknown';
  if (storedAtMs === null) return 'miss';
  return storedAtMs < entry.startMs ? 'hit' : 'miss';
}
