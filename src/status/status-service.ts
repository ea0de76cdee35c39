import type { CacheInstance } from '../state/cache-instance.js';
import type { NginxProcessState } from '../state/nginx-process-state.js';
import { redactedConfig } from './config-view.js';
import type { DiskSpace } from '../observe/disk/disk-space-monitor.js';
import type { DaemonState, RejectedConfig, ReloadRecord } from '../state/daemon-state.js';
import type { HealthMonitor } from '../state/health-monitor.js';
import type { MirrorStats } from '../observe/access-log/mirror-counters.js';
import type { VhostCacheStats, VhostTraffic } from '../observe/vhost-numbers.js';
import type { ObserverStats, VhostObserver } from '../observe/vhost-observer.js';
import { vhostView, type VhostView } from './vhost-view.js';
import { clusterStatus, type ClusterStatus } from './cluster-view.js';
import type { PeerHealth } from '../cluster/peer-health.js';

/** A vhost as the API shows it: health and routing (vhost-view.ts) plus its numbers (vhost-numbers.ts). */
export type ObservedVhost = VhostView & { traffic: VhostTraffic; cache: VhostCacheStats; integrity: VhostIntegrity; mirrors: MirrorStats[] };

/** What the integrity checks found for a vhost (src/integrity/). */
export interface VhostIntegrity {
  /** Content whose sha256 differed from its digest, dropped from a cache, since the daemon started. */
  digestMismatches: number;
}

/** What the status service reads of the cache runtime (a CacheRuntime). */
export interface ObservedRuntime {
  readonly kind: 'process' | 'docker';
  list(): Promise<CacheInstance[]>;
}

/** What it reads of an nginx driver (an NginxDriver: child process or container). */
export interface ObservedNginx {
  readonly kind: 'process' | 'container';
  state(): NginxProcessState;
}

/** GET /api/v1/status: the daemon as a whole. */
export interface DaemonStatus {
  generation: number;
  ready: boolean;
  config: { path: string; appliedAt: string | null; applied: ReturnType<typeof redactedConfig> | null };
  /** The last rejected config file, null once a file applied. */
  lastError: RejectedConfig | null;
  nginx: { kind: ObservedNginx['kind'] } & NginxProcessState & { lastReload: ReloadRecord | null };
  /** The egress nginx the caches fetch their upstreams through; null when there is none. */
  egressNginx: (NginxProcessState & { generation: number; caches: number }) | null;
  runtime: ObservedRuntime['kind'];
  observer: ObserverStats;
  vhosts: ObservedVhost[];
  /** Free space under dataDir (null before the first measurement). */
  disk: DiskSpace | null;
  /** The ring this node routes by and each peer's health, share and forwarded requests; null: a single node. */
  cluster: ClusterStatus | null;
}

export interface StatusService {
  /** The cluster part of the status (also the metrics' source); null: a single node. */
  cluster(): ClusterStatus | null;
  vhosts(): Promise<ObservedVhost[]>;
  status(): Promise<DaemonStatus>;
  /** nginx answers with the generation we last applied. */
  ready(): Promise<boolean>;
  /** /readyz: ready as above, with the generation that serves and why the last apply failed (null: it did not). */
  readiness(): Promise<{ ready: boolean; generation: number; lastError: string | null }>;
}

export function createStatusService(deps: {
  state: DaemonState;
  runtime: ObservedRuntime;
  health: HealthMonitor;
  /** The router's NginxController: the generation nginx answers with. */
  nginx: { servedGeneration(): Promise<number | null> };
  nginxDriver: ObservedNginx;
  egressDriver?: ObservedNginx | null;
  observer: VhostObserver;
  integrity?: { mismatches(vhost: string): number; lastError(vhost: string): string | null };
  disk?: { current(): DiskSpace | null; lowMessage(): string | null };
  peers?: { health(peer: string): PeerHealth | null };
}): StatusService {
  const { state } = deps;
  const vhosts = async (): Promise<ObservedVhost[]> => {
    const config = state.applied?.config;
    if (!config) return [];
    const [instanceList] = await Promise.all([deps.runtime.list(), deps.observer.refresh()]);
    const instances = new Map(instanceList.map((i) => [i.name, i]));
    return config.registries.map((r) => {
      const view = vhostView(
        r,
        instances.get(r.name) ?? null,
        deps.health.health(r.name),
        state.routed.has(r.name),
        state.egress.get(r.name) ?? null,
        deps.disk?.lowMessage() ?? null,
      );
      return {
        ...view,
        // Health problems first; else the last digest mismatch, until that digest is stored verified.
        lastError: view.lastError ?? deps.integrity?.lastError(r.name) ?? null,
        ...deps.observer.numbers(r.name),
        integrity: { digestMismatches: deps.integrity?.mismatches(r.name) ?? 0 },
      };
    });
  };
  // During a reload nginx already answers with the next generation before the pass records it;
  // that is still the applied config or newer, never an older one (stale nginx processes are reaped).
  const ready = async () => {
    if (state.generation === 0) return false;
    const served = await deps.nginx.servedGeneration();
    return served !== null && served >= state.generation;
  };
  const cluster = () => clusterStatus(state.cluster, (peer) => deps.peers?.health(peer) ?? null, deps.observer.peerRequests?.() ?? new Map());
  return {
    vhosts,
    ready,
    cluster,
    readiness: async () => ({ ready: await ready(), generation: state.generation, lastError: state.lastError?.message ?? null }),
    async status() {
      const nginxState = deps.nginxDriver.state();
      return {
        generation: state.generation,
        ready: await ready(),
        config: state.applied
          ? { path: state.configPath, appliedAt: state.applied.appliedAt, applied: redactedConfig(state.applied.config) }
          : { path: state.configPath, appliedAt: null, applied: null },
        lastError: state.lastError,
        nginx: { kind: deps.nginxDriver.kind, ...nginxState, lastReload: state.lastReload },
        egressNginx: deps.egressDriver ? { ...deps.egressDriver.state(), generation: state.egressGeneration, caches: state.egress.size } : null,
        runtime: deps.runtime.kind,
        observer: deps.observer.stats(),
        vhosts: await vhosts(),
        disk: deps.disk?.current() ?? null,
        cluster: cluster(),
      };
    },
  };
}
