import { upstreamAttempts } from './upstream-attempts.js';

/** What a request was for, from its path. Never carries the repository name: it feeds metric labels. */
export type RequestKind = 'manifest' | 'blob' | 'upload' | 'tags' | 'catalog' | 'base' | 'other';

/** One line of nginx's regcache_json access log (nginx/access-log.conf), typed. */
export interface AccessLogEntry {
  /** End of the request, ms since the epoch. */
  endMs: number;
  /** Start of the request, ms since the epoch (end minus request_time). */
  startMs: number;
  /** Registry name nginx routed to, or null when the request matched no vhost. */
  vhost: string | null;
  method: string;
  kind: RequestKind;
  /** `sha256:…` for blob requests and manifests addressed by digest, else null. */
  digest: string | null;
  status: number;
  /** Body bytes sent to the client. */
  bytes: number;
  /** The last status the cache behind nginx answered with, or null when nginx answered itself. */
  upstreamStatus: number | null;
  /** nginx proxy_cache status (HIT, MISS, …) when a proxy cache is configured, else null. */
  cacheStatus: string | null;
  /** What the digest cache appends to a manifest's key (`|<Accept>`, templates/nginx/protocol-http.conf.ejs); "" otherwise. */
  digestVariant: string;
  /** The router refused the request by the cache's repository rules (registries.<name>.repositories), else null. */
  refused: 'denied' | 'not_allowed' | null;
  /** False when nginx could read no request line (empty URI): TLS or other non-HTTP bytes on the plain port. */
  requestLine: boolean;
  /** A success whose body stopped before its Content-Length: the client got a broken download. */
  cutOff: boolean;
  /**
   * Cluster: a client request the public listener passed to the ring, each peer tried with what it
   * answered (502 for a refused connect); null for anything this node answered itself or through its caches.
   */
  forwarded: Array<{ peer: string; status: number | null }> | null;
}

const V2_PATH = /^\/v2\/(?:(.+)\/(manifests|blobs|tags)\/(.*)|(_catalog)|)$/;
const DIGEST = /^[a-z0-9]+(?:[+._-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$/;

/** Classifies a request URI (path and query) without keeping the repository part. */
export function classifyUri(uri: string): { kind: RequestKind; digest: string | null } {
  const q = uri.indexOf('?');
  const path = q === -1 ? uri : uri.slice(0, q);
  const m = V2_PATH.exec(path);
  if (!m) return { kind: 'other', digest: null };
  if (m[4]) return { kind: 'catalog', digest: null };
  if (!m[2]) return { kind: 'base', digest: null };
  const rest = m[3]!;
  if (m[2] === 'tags') return { kind: 'tags', digest: null };
  if (m[2] === 'manifests') return { kind: 'manifest', digest: DIGEST.test(rest) ? rest : null };
  if (rest.startsWith('uploads')) return { kind: 'upload', digest: null };
  return { kind: 'blob', digest: DIGEST.test(rest) ? rest : null };
}

/** The last status of a comma/colon separated nginx list ("502, 200" after a retry), or null for "-"/"". */
function lastStatus(value: unknown): number | null {
  if (typeof value !== 'string') return null;
  const parts = value
    .split(/[,:]/)
    .map((s) => s.trim())
    .filter(Boolean);
  const n = Number(parts[parts.length - 1]);
  return Number.isInteger(n) && n >= 100 && n <= 599 ? n : null;
}

function finite(value: unknown): number | null {
  const n = typeof value === 'string' && value !== '' ? Number(value) : value;
  return typeof n === 'number' && Number.isFinite(n) ? n : null;
}

/**
 * Parses one access-log line; null for anything that is not a well-formed regcache_json line
 * (a torn line, a line of an older format), which the caller counts and otherwise ignores.
 */
export function parseAccessLogLine(line: string): AccessLogEntry | null {
  if (!line.startsWith('{')) return null;
  let raw: Record<string, unknown>;
  try {
    raw = JSON.parse(line) as Record<string, unknown>;
  } catch {
    return null;
  }
  if (raw === null || typeof raw !== 'object') return null;
  const status = finite(raw.status);
  const bytes = finite(raw.bytes);
  const uri = raw.uri;
  const method = raw.method;
  if (status === null || bytes === null || typeof uri !== 'string' || typeof method !== 'string') return null;
  const msec = finite(raw.msec);
  const endMs = msec !== null ? Math.round(msec * 1000) : Date.parse(String(raw.time));
  if (!Number.isFinite(endMs)) return null;
  const requestMs = Math.round((finite(raw.request_time) ?? 0) * 1000);
  const vhost = typeof raw.vhost === 'string' && raw.vhost !== '' && raw.vhost !== '-' ? raw.vhost : null;
  const length = finite(raw.length);
  const cache = typeof raw.cache === 'string' && raw.cache !== '' && raw.cache !== '-' ? raw.cache.toUpperCase() : null;
  return {
    endMs,
    startMs: endMs - requestMs,
    vhost,
    method,
    ...classifyUri(uri),
    status,
    bytes,
    upstreamStatus: lastStatus(raw.upstream_status),
    cacheStatus: cache,
    digestVariant: typeof raw.variant === 'string' ? raw.variant : '',
    requestLine: uri !== '',
    cutOff: method !== 'HEAD' && status >= 200 && status < 300 && length !== null && bytes < length,
    refused: raw.refused === 'denied' || raw.refused === 'not_allowed' ? raw.refused : null,
    forwarded: raw.listener === 'public' ? forwardedTo(raw.peer, raw.upstream_status) : null,
  };
}

/** Every peer a public-listener request was passed to, with what it answered; null when none. */
function forwardedTo(peers: unknown, statuses: unknown): AccessLogEntry['forwarded'] {
  const tried = upstreamAttempts(peers, statuses).flat();
  return tried.length === 0 ? null : tried.map(({ address, status }) => ({ peer: address, status }));
}
