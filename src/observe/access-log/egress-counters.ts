import { upstreamAttempts, type UpstreamAttempt } from './upstream-attempts.js';

/**
 * What the egress nginx's log (templates/egress-nginx.conf.ejs, regcache_egress_json) says about the
 * requests each cache sent upstream. Plain data; only configured vhosts are kept.
 */
export interface EgressCounts {
  /** Requests the cache sent through the egress. */
  requests: number;
  /** Requests that reached the upstream or its CDN, one per hop (a redirect followed is two). */
  upstreamRequests: number;
  /** Bytes received from the upstream and its CDN (headers included, as nginx counts them). */
  upstreamBytes: number;
  /** Blob fetches answered from the egress lock/cache instead of the upstream (distribution's second fetch, concurrent misses). */
  mergedFetches: number;
}

export interface EgressLogEntry {
  vhost: string;
  method: string;
  status: number;
  /** The blob's digest for blob requests, else null. */
  digest: string | null;
  upstreamStatuses: number;
  upstreamBytes: number;
  cache: string;
  /** The upstream could not be reached or did not answer in time (nginx's own 502/504). */
  upstreamFailed: boolean;
  /**
   * The servers nginx tried for the request's first proxying, in order, with each one's status (null:
   * none). For a mirror list these are its hop listeners, one per mirror tried; a redirect followed
   * afterwards is not among them.
   */
  attempts: UpstreamAttempt[];
  /** When nginx logged the request (ms since the epoch); null when the line has no msec. */
  timeMs: number | null;
}

export function emptyEgressCounts(): EgressCounts {
  return { requests: 0, upstreamRequests: 0, upstreamBytes: 0, mergedFetches: 0 };
}

const BLOB_URI = /^\/v2\/.+\/blobs\/(sha256:[a-f0-9]{64})$/;

/** One JSON line, or null when it is not one of ours. */
export function parseEgressLogLine(line: string): EgressLogEntry | null {
  let raw: Record<string, unknown>;
  try {
    raw = JSON.parse(line) as Record<string, unknown>;
  } catch {
    return null;
  }
  if (typeof raw.vhost !== 'string' || raw.vhost === '' || typeof raw.upstream_status !== 'string') return null;
  // nginx lists one value per upstream hop, separated by ", " (and " : " across internal redirects).
  const values = (s: unknown) =>
    typeof s === 'string'
      ? s
          .split(/[,:]/)
          .map((v) => v.trim())
          .filter((v) => v !== '' && v !== '-')
      : [];
  const uri = typeof raw.uri === 'string' ? raw.uri : '';
  return {
    vhost: raw.vhost,
    method: typeof raw.method === 'string' ? raw.method : '',
    status: typeof raw.status === 'number' ? raw.status : 0,
    digest: BLOB_URI.exec(uri)?.[1] ?? null,
    upstreamStatuses: values(raw.upstream_status).length,
    upstreamBytes: values(raw.upstream_bytes).reduce((sum, v) => sum + (Number(v) || 0), 0),
    cache: typeof raw.cache === 'string' ? raw.cache : '',
    upstreamFailed: (raw.status === 502 || raw.status === 504) && /(?:^|[,:] ?)(?:502|504)$/.test(String(raw.upstream_status).trim()),
    attempts: upstreamAttempts(raw.upstream_addr, raw.upstream_status)[0] ?? [],
    timeMs: typeof raw.msec === 'number' ? Math.round(raw.msec * 1000) : null,
  };
}

export interface EgressCounters {
  record(entry: EgressLogEntry): void;
  get(vhost: string): EgressCounts;
  retain(vhosts: Iterable<string>): void;
}

export function createEgressCounters(): EgressCounters {
  const known = new Set<string>();
  const counts = new Map<string, EgressCounts>();
  return {
    record(entry) {
      if (!known.has(entry.vhost)) return;
      const c = counts.get(entry.vhost) ?? emptyEgressCounts();
      c.requests++;
      c.upstreamRequests += entry.upstreamStatuses;
      c.upstreamBytes += entry.upstreamBytes;
      if (entry.cache === 'HIT') c.mergedFetches++;
      counts.set(entry.vhost, c);
    },
    get: (vhost) => ({ ...(counts.get(vhost) ?? emptyEgressCounts()) }),
    retain(vhosts) {
      known.clear();
      for (const v of vhosts) known.add(v);
      for (const name of counts.keys()) if (!known.has(name)) counts.delete(name);
    },
  };
}
