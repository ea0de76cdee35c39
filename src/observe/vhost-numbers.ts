import { emptyEgressCounts, type EgressCounts } from './access-log/egress-counters.js';
import type { VhostTrafficCounts } from './access-log/traffic-counters.js';
import type { RegistryProxyVars } from './registry-vars/registry-vars.js';
import type { DiskSample } from './storage/disk-usage-sampler.js';
import { isoTime } from '../util/clock.js';

/** Traffic of one vhost since the daemon started, from nginx's access log. */
export interface VhostTraffic {
  /** When counting started (daemon start). */
  since: string;
  requests: { total: number; '1xx': number; '2xx': number; '3xx': number; '4xx': number; '5xx': number };
  requestsByKind: VhostTrafficCounts['requestsByKind'];
  /** Response body bytes nginx sent to clients. */
  bytesServed: number;
  /** Content the cache fetched from its upstream: manifests (registry's count) + blobs that were misses. */
  bytesFromUpstream: number;
  /** 429 Too Many Requests the upstream answered (passed through by the cache). */
  upstream429: number;
  /** Responses that were cut off before their Content-Length (counted in requests as 5xx). */
  cutOff: number;
  /** Requests the router refused by registries.<name>.repositories (never reached the cache). */
  repositoryRefused: { denied: number; notAllowed: number };
  /** What the cache sent upstream through the egress nginx (all zero when it goes direct). */
  egress: EgressCounts;
  /** End of the last successful manifest GET (a pull), or null. */
  lastPullAt: string | null;
  lastRequestAt: string | null;
}

export interface HitMiss {
  hits: number;
  misses: number;
  /** hits / (hits + misses), null before the first counted request. */
  hitRatio: number | null;
}

/** Cache effectiveness and size of one vhost. */
export interface VhostCacheStats {
  /** From the registry's expvar (misses; hits = requests − misses), plus nginx proxy-cache hits. */
  manifests: HitMiss;
  /** From what regcache observes (nginx cache status, then the cache's storage); `unknown` when neither can tell. */
  blobs: HitMiss & { unknown: number };
  /** False while the registry's /debug/vars cannot be read: manifest numbers are then its last known counts. */
  registryStats: boolean;
  /** Disk used by the cache's storage (allocated blocks), null until measured or when not visible. */
  diskBytes: number | null;
  diskMeasuredAt: string | null;
}

const ratio = (hits: number, misses: number) => (hits + misses > 0 ? hits / (hits + misses) : null);

/** Combines the three sources into what the API, the page and /metrics show. Pure. */
export function vhostNumbers(input: {
  traffic: VhostTrafficCounts;
  proxy: RegistryProxyVars | null;
  /** The last poll of the registry's counters succeeded. */
  proxyCurrent: boolean;
  disk: DiskSample | null;
  egress?: EgressCounts;
  sinceMs: number;
}): { traffic: VhostTraffic; cache: VhostCacheStats } {
  const { traffic: t, proxy, disk } = input;
  // distribution 2.8 counts every manifest served as a "hit" (Hits == Requests) and a fetch from the
  // upstream as a miss on top, so the served-from-storage count is Requests − Misses.
  const registryManifestHits = proxy ? Math.max(0, proxy.manifests.requests - proxy.manifests.misses) : 0;
  const manifestHits = registryManifestHits + t.manifestNginxHits;
  const manifestMisses = proxy?.manifests.misses ?? 0;
  const total = Object.values(t.requests).reduce((a, b) => a + b, 0);
  return {
    traffic: {
      since: isoTime(input.sinceMs),
      requests: { total, ...t.requests },
      requestsByKind: { ...t.requestsByKind },
      bytesServed: t.bytesServed,
      bytesFromUpstream: (proxy?.manifests.bytesPulled ?? 0) + t.blobMissBytes,
      upstream429: t.upstream429,
      cutOff: t.cutOff,
      repositoryRefused: { ...t.repositoryRefused },
      egress: { ...(input.egress ?? emptyEgressCounts()) },
      lastPullAt: isoTime(t.lastPullAtMs),
      lastRequestAt: isoTime(t.lastRequestAtMs),
    },
    cache: {
      manifests: { hits: manifestHits, misses: manifestMisses, hitRatio: ratio(manifestHits, manifestMisses) },
      blobs: { hits: t.blobs.hits, misses: t.blobs.misses, unknown: t.blobs.unknown, hitRatio: ratio(t.blobs.hits, t.blobs.misses) },
      registryStats: input.proxyCurrent,
      diskBytes: disk?.bytes ?? null,
      diskMeasuredAt: isoTime(disk?.measuredAtMs ?? null),
    },
  };
}
