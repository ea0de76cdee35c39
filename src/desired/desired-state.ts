import type { RegcacheConfig } from '../config/model.js';
import { registrySlug } from '../config/parse.js';
import { hashSpec, type CacheSpec } from './cache-spec.js';
import { NO_EGRESS, type EgressPlan } from './egress-routes.js';

/** What should be running and routed, derived purely from the config. */
export interface DesiredState {
  config: RegcacheConfig;
  caches: CacheSpec[];
}

/** Whether each upstream answered its last probe; null while unknown. */
export type UpstreamReachability = (registryName: string) => boolean | null;

export function desiredState(config: RegcacheConfig, reachable: UpstreamReachability = () => null, egress: EgressPlan = NO_EGRESS): DesiredState {
  const caches = config.registries.map((r): CacheSpec => {
    const offline = reachable(r.name) === false;
    const remoteUrl = egress.routes.get(r.name)?.remoteUrl ?? r.upstream;
    const shaping = { upstream: r.upstream, remoteUrl, credentials: r.credentials, offline };
    return {
      name: r.name,
      slug: registrySlug(r.name),
      upstream: r.upstream,
      remoteUrl,
      credentials: r.credentials,
      offline,
      specHash: hashSpec(shaping),
    };
  });
  return { config, caches };
}
