import { emptyTrafficCounts } from '../../src/observe/access-log/traffic-counters.js';
import type { DaemonStatus, ObservedVhost } from '../../src/status/status-service.js';
import { vhostNumbers } from '../../src/observe/vhost-numbers.js';

/** The instant status fixtures are taken at. */
export const FIXTURE_NOW = Date.UTC(2026, 0, 1, 12, 0, 0);

/** A vhost as the API shows it: up, with some traffic (40 2xx, 2 4xx, 3 MiB), blob and manifest counts, 5 MiB on disk. */
export function observedVhost(name: string, over: Partial<ObservedVhost> = {}, nowMs = FIXTURE_NOW): ObservedVhost {
  const traffic = emptyTrafficCounts();
  traffic.requests['2xx'] = 40;
  traffic.requests['4xx'] = 2;
  traffic.bytesServed = 3 * 1024 * 1024;
  traffic.blobs = { hits: 9, misses: 1, unknown: 0 };
  traffic.lastPullAtMs = nowMs - 30_000;
  const proxy = {
    manifests: { requests: 4, hits: 4, misses: 1, bytesPulled: 100, bytesPushed: 0 },
    blobs: { requests: 0, hits: 0, misses: 0, bytesPulled: 0, bytesPushed: 0 },
  };
  return {
    name,
    mirrorOf: name === 'ghcr.io' ? 'ghcr.io' : 'docker.io',
    hosts: [`${name}.registry.example.com`],
    upstream: 'https://upstream.example',
    status: 'up',
    routed: true,
    backend: { address: '127.0.0.1:1', state: 'running', restarts: 0 },
    upstreamReachable: true,
    egress: null,
    lastError: null,
    integrity: { digestMismatches: 0 },
    mirrors: [],
    ...vhostNumbers({
      traffic,
      proxy,
      proxyCurrent: true,
      disk: { bytes: 5 << 20, files: 3, partial: false, measuredAtMs: nowMs },
      sinceMs: nowMs - 60_000,
    }),
    ...over,
  };
}

/** The daemon's status: generation 3, ready, process runtime and nginx, applied two minutes ago, no vhosts unless given. */
export function daemonStatus(over: Partial<DaemonStatus> = {}, nowMs = FIXTURE_NOW): DaemonStatus {
  return {
    generation: 3,
    ready: true,
    config: { path: '/etc/regcache/registries.yaml', appliedAt: new Date(nowMs - 120_000).toISOString(), applied: null },
    lastError: null,
    nginx: { kind: 'process', running: true, pid: 1, restarts: 0, lastError: null, lastReload: null },
    egressNginx: null,
    runtime: 'process',
    observer: {
      accessLog: {
        path: '/x',
        following: true,
        offset: 0,
        rotations: 0,
        truncations: 0,
        droppedLines: 0,
        unparsedLines: 0,
        unroutedRequests: 0,
        tlsOnPlainRequests: 0,
      },
    },
    vhosts: [],
    disk: null,
    cluster: null,
    ...over,
  };
}
