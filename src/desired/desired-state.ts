import type { RegcacheConfig } from '../config/model.js';
import { registrySlug } from '../config/parse.js';
import { hashSpec, type CacheSpec } from './cache-spec.js';

/** What should be running and routed, derived purely from the config. */
export interface DesiredState {
  config: RegcacheConfig;
  caches: CacheSpec[];
}

/** Whether each upstream answered its last probe; null while unknown. */
export type UpstreamReachability = (registryName: string) => boolean | null;

export function desiredState(config: RegcacheConfig, reachable: UpstreamReachability = () => null): DesiredState {
  const caches = config.registries.map((r): CacheSpec => {
    const offline = reachable(r.name) === false;
    const shaping = { upstream: r.upstream, credentials: r.credentials, offline };
    return { name: r.name, slug: registrySlug(r.name), upstream: r.upstream, credentials: r.credentials, offline, specHash: hashSpec(shaping) };
  });
  return { config, caches };
}
