import type { AccessLogEntry, RequestKind } from './access-log-entry.js';
import { isBlobDownload, isNginxCacheHit, type BlobOutcome } from './blob-outcome.js';

export type StatusClass = '1xx' | '2xx' | '3xx' | '4xx' | '5xx';
export const STATUS_CLASSES: readonly StatusClass[] = ['1xx', '2xx', '3xx', '4xx', '5xx'];
export const REQUEST_KINDS: readonly RequestKind[] = ['manifest', 'blob', 'upload', 'tags', 'catalog', 'base', 'other'];

/** What nginx's access log says about one vhost since the daemon started. Plain data, copied out. */
export interface VhostTrafficCounts {
  requests: Record<StatusClass, number>;
  requestsByKind: Record<RequestKind, number>;
  /** Body bytes nginx sent to clients. */
  bytesServed: number;
  /** Body bytes of blob downloads that were misses: content the cache fetched from its upstream. */
  blobMissBytes: number;
  blobs: { hits: number; misses: number; unknown: number };
  /** Manifest requests nginx answered from its own proxy cache; the registry never sees these. */
  manifestNginxHits: number;
  /** Responses with status 429 that came from the cache: the upstream rate-limited it. */
  upstream429: number;
  /** 2xx responses whose body stopped short of its Content-Length; counted under 5xx, as failures. */
  cutOff: number;
  /** Requests the router refused by the repository rules: a deny pattern matched, or no allow pattern did. */
  repositoryRefused: { denied: number; notAllowed: number };
  /** End of the last successful manifest GET, ms since the epoch. */
  lastPullAtMs: number | null;
  lastRequestAtMs: number | null;
}

export function emptyTrafficCounts(): VhostTrafficCounts {
  return {
    requests: { '1xx': 0, '2xx': 0, '3xx': 0, '4xx': 0, '5xx': 0 },
    requestsByKind: { manifest: 0, blob: 0, upload: 0, tags: 0, catalog: 0, base: 0, other: 0 },
    bytesServed: 0,
    blobMissBytes: 0,
    blobs: { hits: 0, misses: 0, unknown: 0 },
    manifestNginxHits: 0,
    upstream429: 0,
    cutOff: 0,
    repositoryRefused: { denied: 0, notAllowed: 0 },
    lastPullAtMs: null,
    lastRequestAtMs: null,
  };
}

export function statusClass(status: number): StatusClass {
  const c = Math.min(5, Math.max(1, Math.floor(status / 100)));
  return `${c}xx` as StatusClass;
}

/**
 * Per-vhost counters fed by access-log entries. Only vhosts named by `knownVhosts` are kept, so a
 * stray or forged log line can never grow memory or metric label sets.
 */
export interface TrafficCounters {
  record(entry: AccessLogEntry, blob: BlobOutcome | null): void;
  get(vhost: string): VhostTrafficCounts;
  /** Requests that matched no vhost (unknown host and no ns parameter). */
  unrouted(): number;
  /**
   * Connections that sent no HTTP request line nginx could read (it logs 400 with an empty URI): TLS
   * handshakes on the plain-http port, which podman, skopeo and dockerd try before http. Not in unrouted().
   */
  tlsOnPlain(): number;
  /** Forget vhosts no longer configured; new names start from zero. */
  retain(vhosts: Iterable<string>): void;
}

export function createTrafficCounters(knownVhosts: Iterable<string> = []): TrafficCounters {
  const known = new Set(knownVhosts);
  const counts = new Map<string, VhostTrafficCounts>();
  let unrouted = 0;
  let tlsOnPlain = 0;
  const entry = (vhost: string) => {
    let c = counts.get(vhost);
    if (!c) counts.set(vhost, (c = emptyTrafficCounts()));
    return c;
  };
  return {
    record(e, blob) {
      if (e.vhost === null && !e.requestLine && e.status === 400) {
        tlsOnPlain++;
        return;
      }
      if (e.vhost === null || !known.has(e.vhost)) {
        unrouted++;
        return;
      }
      const c = entry(e.vhost);
      // A 200 cut off half-way is a failed request whatever its status line said.
      c.requests[e.cutOff ? '5xx' : statusClass(e.status)]++;
      if (e.cutOff) c.cutOff++;
      c.requestsByKind[e.kind]++;
      c.bytesServed += e.bytes;
      c.lastRequestAtMs = Math.max(c.lastRequestAtMs ?? 0, e.endMs);
      if (e.status === 429 && e.upstreamStatus === 429) c.upstream429++;
      if (e.refused === 'denied') c.repositoryRefused.denied++;
      else if (e.refused === 'not_allowed') c.repositoryRefused.notAllowed++;
      if (e.kind === 'manifest' && e.method === 'GET' && e.status >= 200 && e.status < 300 && !e.cutOff) {
        c.lastPullAtMs = Math.max(c.lastPullAtMs ?? 0, e.endMs);
        if (isNginxCacheHit(e)) c.manifestNginxHits++;
      }
      if (blob !== null && isBlobDownload(e) && !e.cutOff) {
        if (blob === 'hit') c.blobs.hits++;
        else if (blob === 'miss') {
          c.blobs.misses++;
          c.blobMissBytes += e.bytes;
        } else c.blobs.unknown++;
      }
    },
    get(vhost) {
      return structuredClone(counts.get(vhost) ?? emptyTrafficCounts());
    },
    unrouted: () => unrouted,
    tlsOnPlain: () => tlsOnPlain,
    retain(vhosts) {
      known.clear();
      for (const v of vhosts) known.add(v);
      for (const name of counts.keys()) if (!known.has(name)) counts.delete(name);
    },
  };
}
