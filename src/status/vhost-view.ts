import type { CacheInstance } from '../state/cache-instance.js';
import type { RegistryConfig } from '../config/model.js';
import type { VhostHealth } from '../state/health-monitor.js';

export type VhostStatus = 'up' | 'starting' | 'degraded' | 'down';

/** One vhost as the API shows it. Never carries credentials. */
export interface VhostView {
  name: string;
  /** The registry host images are named by, which clients map to this cache (mirrorOf). */
  mirrorOf: string;
  hosts: string[];
  upstream: string;
  status: VhostStatus;
  routed: boolean;
  backend: { address: string | null; state: string; restarts: number };
  upstreamReachable: boolean | null;
  /** Where the cache reaches its upstream through nginx (see egress:); null: directly, or offline. */
  egress: string | null;
  lastError: string | null;
}

export function vhostStatus(instance: CacheInstance | null, health: VhostHealth, routed: boolean, diskLow: string | null = null): VhostStatus {
  if (!instance || instance.state === 'stopped' || instance.state === 'crashed') return 'down';
  if (instance.state === 'starting' || health.cache === null) return 'starting';
  if (!health.cache.ok) return 'down';
  if (!routed || health.upstream?.ok === false || diskLow) return 'degraded';
  return 'up';
}

export function vhostView(
  registry: RegistryConfig,
  instance: CacheInstance | null,
  health: VhostHealth,
  routed: boolean,
  egress: string | null = null,
  /** Why cold pulls are refused (free space under dataDir below cache.minFreeSpace), or null. */
  diskLow: string | null = null,
): VhostView {
  const status = vhostStatus(instance, health, routed, diskLow);
  const lastError =
    instance?.lastError && instance.state !== 'running'
      ? instance.lastError
      : health.cache && !health.cache.ok
        ? `cache not answering: ${health.cache.error}`
        : diskLow
          ? diskLow
          : health.upstream && !health.upstream.ok
            ? `upstream ${registry.upstreams.length > 1 ? 'mirrors' : registry.upstream} not reachable: ${health.upstream.error}`
            : (instance?.lastError ?? null);
  return {
    name: registry.name,
    mirrorOf: registry.mirrorOf,
    hosts: registry.hosts,
    upstream: registry.upstream,
    status,
    routed,
    backend: { address: instance?.address ?? null, state: instance?.state ?? 'absent', restarts: instance?.restarts ?? 0 },
    upstreamReachable: health.upstream ? health.upstream.ok : null,
    egress,
    lastError,
  };
}
