import path from 'node:path';
import type { RegcacheConfig } from '../../config/model.js';
import { resolverDirective, type EgressPlan } from '../../desired/egress-routes.js';
import { sizeToken, type NginxCacheZone, type NginxPaths } from './nginx-view.js';

/**
 * What templates/egress-nginx.conf.ejs reads: the caches' egress, a second nginx beside the router.
 * It is its own process because every location that proxies to a variable https URL loads the CA
 * bundle (~20 ms each on nginx 1.22); in the router that would slow every reload. Here one location
 * serves every cache, and the config changes only when registries or upstreams do.
 */
export interface EgressNginxView {
  generation: number;
  user: string | null;
  workerProcesses: number | 'auto';
  paths: NginxPaths;
  /** Loopback listener that answers the generation probe. */
  controlListen: string;
  /** `resolver` servers; null when every upstream is an IP address and no nameserver is known. */
  resolver: { servers: string[]; ipv6: boolean } | null;
  caFile: string;
  /** Changes when a configured bundle's contents change, so nginx reloads and re-reads it. */
  caMaterial: string | null;
  cacheZone: NginxCacheZone;
  cacheLockTimeout: string;
  /** One listener per cache; the port says which upstream. */
  servers: Array<{ name: string; listen: string; port: number; origin: string }>;
}

export function egressNginxView(input: {
  config: RegcacheConfig;
  plan: EgressPlan;
  paths: NginxPaths;
  generation: number;
  controlPort: number;
  user?: string | null;
}): EgressNginxView | null {
  const { plan, config, paths } = input;
  if (plan.routes.size === 0 || !plan.caFile) return null;
  return {
    generation: input.generation,
    user: input.user !== undefined ? input.user : config.nginx.user,
    workerProcesses: config.nginx.workerProcesses,
    paths,
    controlListen: `127.0.0.1:${input.controlPort}`,
    resolver: resolverDirective(plan.resolvers),
    caFile: plan.caFile,
    caMaterial: plan.caMaterial,
    // Entries live only until distribution's second fetch and concurrent misses have read them.
    cacheZone: {
      zone: 'regcache_egress',
      path: path.join(paths.cache, 'blobs'),
      keysZoneSize: '4m',
      maxSize: sizeToken(config.cache.maxSizeBytes),
      inactive: '10m',
    },
    cacheLockTimeout: `${config.cache.lockTimeoutSeconds}s`,
    servers: [...plan.routes.values()].map((r) => ({ name: r.name, listen: r.listen, port: Number(r.listen.split(':').pop()), origin: r.origin })),
  };
}
