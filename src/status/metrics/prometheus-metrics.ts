import { collectDefaultMetrics, Counter, Gauge, Histogram, type Registry } from 'prom-client';
import type { ReconcileMetrics } from '../../state/reconcile-metrics.js';
import type { ReconcileOutcome } from '../../state/reconcile-result.js';
import { STATUS_CLASSES } from '../../observe/access-log/traffic-counters.js';
import type { ObservedVhost } from '../status-service.js';
import type { ClusterStatus } from '../cluster-view.js';

export interface PrometheusMetrics {
  readonly reconcile: ReconcileMetrics;
  readonly contentType: string;
  /** Takes a fresh snapshot of every vhost and renders the registry in Prometheus text format. */
  render(): Promise<string>;
}

const OUTCOMES: readonly ReconcileOutcome[] = ['applied', 'unchanged', 'rejected', 'failed'];
const KINDS = ['manifest', 'blob'] as const;

/**
 * Every regcache metric, on the Registry it is given (never prom-client's global one). Labels are
 * bounded: vhost names come from the config, code is a status class, kind is manifest|blob.
 */
/** Requests nginx could route to no cache, by why: an unknown host (and no ns), or a TLS handshake on the plain port. */
export interface UnroutedCounts {
  unknownHost: number;
  tlsOnPlainPort: number;
}

export function createPrometheusMetrics(deps: {
  registry: Registry;
  vhosts: () => Promise<ObservedVhost[]>;
  unrouted?: () => UnroutedCounts;
  /** Free space under dataDir and its floor (cache.minFreeSpace); null before the first measurement. */
  disk?: () => { freeBytes: number; minFreeBytes: number } | null;
  /** Bytes of pinned images per cache (src/pin/); no series when absent. */
  pinnedBytes?: () => Record<string, number>;
  /** The ring's peers (health, forwarded requests); null: a single node, no peer series. */
  cluster?: () => ClusterStatus | null;
  defaultMetrics?: boolean;
}): PrometheusMetrics {
  const registers = [deps.registry];
  if (deps.defaultMetrics ?? true) collectDefaultMetrics({ register: deps.registry });

  const up = new Gauge({
    name: 'regcache_vhost_up',
    help: 'Whether the vhost is routed and its cache answers (1) or not (0)',
    labelNames: ['vhost'],
    registers,
  });
  const upstreamReachable = new Gauge({
    name: 'regcache_upstream_reachable',
    help: "Whether the vhost's upstream registry answered its last probe",
    labelNames: ['vhost'],
    registers,
  });
  const mirrorRequests = new Counter({
    name: 'regcache_mirror_requests_total',
    help: 'Requests the egress nginx sent to each mirror of an upstream mirror list, by the status the mirror answered (502 also when unreachable)',
    labelNames: ['vhost', 'mirror', 'code'],
    registers,
  });
  const mirrorUp = new Gauge({
    name: 'regcache_mirror_up',
    help: 'Whether a mirror of an upstream mirror list is in use (1) or skipped after a failure for egress.mirrorBackoff (0)',
    labelNames: ['vhost', 'mirror'],
    registers,
  });
  const requests = new Counter({
    name: 'regcache_requests_total',
    help: 'Requests nginx answered for the vhost, by status class',
    labelNames: ['vhost', 'code'],
    registers,
  });
  const responseBytes = new Counter({
    name: 'regcache_response_bytes_total',
    help: 'Response body bytes sent to clients',
    labelNames: ['vhost'],
    registers,
  });
  const upstreamBytes = new Counter({
    name: 'regcache_upstream_bytes_total',
    help: 'Content bytes the cache fetched from its upstream (manifests from the registry, blob misses observed by regcache)',
    labelNames: ['vhost'],
    registers,
  });
  const hits = new Counter({ name: 'regcache_cache_hits_total', help: 'Requests served from the cache', labelNames: ['vhost', 'kind'], registers });
  const misses = new Counter({
    name: 'regcache_cache_misses_total',
    help: 'Requests the cache had to fetch from its upstream',
    labelNames: ['vhost', 'kind'],
    registers,
  });
  const upstreamRequests = new Counter({
    name: 'regcache_upstream_requests_total',
    help: 'Requests the cache sent to its upstream or CDN through the egress nginx (one per hop)',
    labelNames: ['vhost'],
    registers,
  });
  const mergedFetches = new Counter({
    name: 'regcache_upstream_fetches_merged_total',
    help: 'Blob fetches of the cache the egress nginx answered from its lock instead of the upstream',
    labelNames: ['vhost'],
    registers,
  });
  const rateLimited = new Counter({
    name: 'regcache_upstream_rate_limited_total',
    help: 'Responses with status 429 from the upstream',
    labelNames: ['vhost'],
    registers,
  });
  const mismatches = new Counter({
    name: 'regcache_digest_mismatches_total',
    help: 'Content whose sha256 differed from the digest it was requested by, dropped from a cache',
    labelNames: ['vhost'],
    registers,
  });
  const cutOff = new Counter({
    name: 'regcache_responses_cut_off_total',
    help: 'Responses whose body stopped before its Content-Length (also counted in regcache_requests_total as 5xx)',
    labelNames: ['vhost'],
    registers,
  });
  const refused = new Counter({
    name: 'regcache_repository_refused_total',
    help: "Requests the router refused by the vhost's repository rules: reason denied (a deny pattern) or not_allowed (no allow pattern)",
    labelNames: ['vhost', 'reason'],
    registers,
  });
  const restarts = new Counter({
    name: 'regcache_cache_restarts_total',
    help: 'Restarts of the cache process or container',
    labelNames: ['vhost'],
    registers,
  });
  const disk = new Gauge({
    name: 'regcache_cache_disk_bytes',
    help: "Disk used by the cache's storage (last measurement)",
    labelNames: ['vhost'],
    registers,
  });
  const lastPull = new Gauge({
    name: 'regcache_last_pull_timestamp_seconds',
    help: 'End of the last successful manifest GET',
    labelNames: ['vhost'],
    registers,
  });
  const reloads = new Counter({
    name: 'regcache_config_reloads_total',
    help: 'Reconcile passes by result (applied, unchanged, rejected, failed)',
    labelNames: ['result'],
    registers,
  });
  const generation = new Gauge({ name: 'regcache_config_generation', help: 'Generation of the nginx config being served', registers });
  const duration = new Histogram({
    name: 'regcache_reconcile_duration_seconds',
    help: 'Duration of reconcile passes',
    buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registers,
  });
  for (const result of OUTCOMES) reloads.inc({ result }, 0);
  const unrouted = new Counter({
    name: 'regcache_unrouted_requests_total',
    help: 'Requests routed to no cache: reason unknown_host (no vhost, no ns) or tls_on_plain_port (a TLS handshake sent to the plain-http port)',
    labelNames: ['reason'],
    registers,
  });

  const diskFree = new Gauge({
    name: 'regcache_disk_free_bytes',
    help: 'Free bytes on the file system holding dataDir (last measurement)',
    registers,
  });
  const diskFloor = new Gauge({
    name: 'regcache_disk_min_free_bytes',
    help: 'cache.minFreeSpace in bytes: below it, pulls of uncached content are refused',
    registers,
  });

  const pinned = new Gauge({
    name: 'regcache_pinned_bytes',
    help: 'Bytes of the pinned images of the vhost (as their manifests declare them), never evicted',
    labelNames: ['vhost'],
    registers,
  });

  const perVhost = [
    pinned,
    up,
    upstreamReachable,
    mirrorRequests,
    mirrorUp,
    requests,
    responseBytes,
    upstreamBytes,
    upstreamRequests,
    mergedFetches,
    hits,
    misses,
    rateLimited,
    mismatches,
    cutOff,
    refused,
    restarts,
    disk,
    lastPull,
  ];
  const peerUp = new Gauge({
    name: 'regcache_peer_up',
    help: "Cluster: whether the peer's listener answered its last probe (this node included)",
    labelNames: ['peer'],
    registers,
  });
  const peerRequests = new Counter({
    name: 'regcache_peer_requests_total',
    help: 'Cluster: client requests this node passed to the peer, by the status it answered (502: no connection)',
    labelNames: ['peer', 'code'],
    registers,
  });
  const snapshot = (vhosts: ObservedVhost[]) => {
    // Peers come and go with membership: rebuilt on every scrape like the per-vhost series.
    peerUp.reset();
    peerRequests.reset();
    for (const p of deps.cluster?.()?.peers ?? []) {
      if (p.up !== null) peerUp.set({ peer: p.address }, p.up ? 1 : 0);
      for (const [code, n] of Object.entries(p.forwardedByCode)) peerRequests.inc({ peer: p.address, code }, n);
    }
    const space = deps.disk?.() ?? null;
    if (space) {
      diskFree.set(space.freeBytes);
      diskFloor.set(space.minFreeBytes);
    }
    // Rebuilt from the observer's monotonic totals on every scrape; a removed vhost's series disappear.
    for (const m of perVhost) m.reset();
    for (const [vhost, bytes] of Object.entries(deps.pinnedBytes?.() ?? {})) pinned.set({ vhost }, bytes);
    const counts = deps.unrouted?.();
    if (counts) {
      unrouted.reset();
      unrouted.inc({ reason: 'unknown_host' }, counts.unknownHost);
      unrouted.inc({ reason: 'tls_on_plain_port' }, counts.tlsOnPlainPort);
    }
    for (const v of vhosts) {
      const vhost = v.name;
      up.set({ vhost }, v.routed && (v.status === 'up' || v.status === 'degraded') ? 1 : 0);
      if (v.upstreamReachable !== null) upstreamReachable.set({ vhost }, v.upstreamReachable ? 1 : 0);
      for (const m of v.mirrors) {
        mirrorUp.set({ vhost, mirror: m.address }, m.state === 'up' ? 1 : 0);
        for (const [code, n] of Object.entries(m.codes)) mirrorRequests.inc({ vhost, mirror: m.address, code }, n);
      }
      for (const code of STATUS_CLASSES) requests.inc({ vhost, code }, v.traffic.requests[code]);
      responseBytes.inc({ vhost }, v.traffic.bytesServed);
      upstreamBytes.inc({ vhost }, v.traffic.bytesFromUpstream);
      upstreamRequests.inc({ vhost }, v.traffic.egress.upstreamRequests);
      mergedFetches.inc({ vhost }, v.traffic.egress.mergedFetches);
      for (const kind of KINDS) {
        const stats = kind === 'manifest' ? v.cache.manifests : v.cache.blobs;
        hits.inc({ vhost, kind }, stats.hits);
        misses.inc({ vhost, kind }, stats.misses);
      }
      rateLimited.inc({ vhost }, v.traffic.upstream429);
      mismatches.inc({ vhost }, v.integrity.digestMismatches);
      cutOff.inc({ vhost }, v.traffic.cutOff);
      refused.inc({ vhost, reason: 'denied' }, v.traffic.repositoryRefused.denied);
      refused.inc({ vhost, reason: 'not_allowed' }, v.traffic.repositoryRefused.notAllowed);
      restarts.inc({ vhost }, v.backend.restarts);
      if (v.cache.diskBytes !== null) disk.set({ vhost }, v.cache.diskBytes);
      if (v.traffic.lastPullAt) lastPull.set({ vhost }, Date.parse(v.traffic.lastPullAt) / 1000);
    }
  };

  let rendering: Promise<string> = Promise.resolve('');
  return {
    contentType: deps.registry.contentType,
    reconcile: {
      passFinished(pass) {
        reloads.inc({ result: pass.outcome });
        duration.observe(pass.seconds);
        generation.set(pass.generation);
      },
    },
    render() {
      // Serialised: a scrape's reset + fill must not interleave with another's.
      const next = rendering
        .catch(() => '')
        .then(async () => {
          snapshot(await deps.vhosts());
          return deps.registry.metrics();
        });
      rendering = next;
      return next;
    },
  };
}
