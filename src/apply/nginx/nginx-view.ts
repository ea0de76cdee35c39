import path from 'node:path';
import type { RegcacheConfig } from '../../config/model.js';
import { firstMirrors } from '../../config/mirror-order.js';
import { registrySlug } from '../../config/parse.js';
import { effectiveCache } from '../../config/sections/cache.js';
import { FIRST_ACCEPT_LINE_ONLY, type AcceptSupport } from './nginx-features.js';
import { repositoryRuleEntries, type RepositoryRuleEntry } from './repository-rules.js';
import { httpListen, securityView, type SecurityView } from './security-view.js';

/** Where the rendered config points nginx at: pid, logs, temp, cache. Chosen by the nginx driver. */
export interface NginxPaths {
  pid: string;
  errorLog: string;
  accessLog: string;
  temp: string;
  /** Parent of one proxy_cache_path directory per registry. */
  cache: string;
}

export interface NginxRoute {
  name: string;
  upstreamId: string;
  address: string;
  /** keys_zone of this registry's nginx cache. */
  cacheZone: string;
  /** Named location that answers this registry's tag manifests (microcached or not). */
  tagLocation: string;
  /** Named location that answers this registry's referrers listings (cached like tags). */
  referrersLocation: string;
  /** `127.0.0.1:PORT` of this cache's egress listener, which asks the upstream for referrers; "" without egress. */
  egress: string;
}

/** One `proxy_cache_path`: a registry's on-disk cache, LRU-bounded by nginx. */
export interface NginxCacheZone {
  zone: string;
  path: string;
  /** nginx size tokens, e.g. "10240m". */
  keysZoneSize: string;
  maxSize: string;
  inactive: string;
}

/** A named location for tag manifests; registries with the same tagTTL share one. */
export interface NginxTagLocation {
  name: string;
  /** "30s"; null: tags pass through uncached (tagTTL 0). */
  validFor: string | null;
  /** The referrers location with the same lifetime. */
  referrers: string;
}

/** Everything the nginx template reads, already validated and flattened: the template holds layout only. */
export interface NginxView {
  generation: number;
  user: string | null;
  workerProcesses: number | 'auto';
  listen: string;
  paths: NginxPaths;
  routes: NginxRoute[];
  hosts: Array<{ host: string; upstreamId: string }>;
  /** containerd's `?ns=<registry host>` → the first cache (in mirror order) of that registry host. */
  nsRoutes: Array<{ ns: string; upstreamId: string }>;
  cacheZones: NginxCacheZone[];
  tagLocations: NginxTagLocation[];
  /** proxy_cache_lock_timeout and proxy_cache_lock_age for digests, e.g. "3600s". */
  cacheLockTimeout: string;
  /** Which variable holds the whole Accept header for the tag microcache (njs on nginx < 1.23). */
  accept: AcceptSupport;
  /** TLS servers and access rules (templates/nginx/security-*.ejs read it as view.security). */
  security: SecurityView;
  /** registries.<name>.repositories as map entries, in match order (templates/nginx/repository-rules-*.ejs). */
  repositoryRules: RepositoryRuleEntry[];
}

/** nginx takes k/m/g suffixes only; round down to whole KiB. */
export function sizeToken(bytes: number): string {
  return bytes % MIB === 0 ? `${bytes / MIB}m` : `${Math.floor(bytes / 1024)}k`;
}

export function upstreamId(registryName: string): string {
  return `cache_${registryName.replace(/[^a-z0-9]+/g, '_')}`;
}

const MIB = 1024 ** 2;
const GIB = 1024 ** 3;

/** nginx keeps ~8000 keys per MiB of keys_zone; one MiB per GiB of disk is ample for registry content. */
export function keysZoneMib(maxSizeBytes: number): number {
  return Math.min(256, Math.max(1, Math.ceil(maxSizeBytes / GIB)));
}

function tagLocationName(ttlSeconds: number): string {
  return ttlSeconds > 0 ? `@regcache_tags_${ttlSeconds}s` : '@regcache_tags_uncached';
}

function referrersLocationName(ttlSeconds: number): string {
  return ttlSeconds > 0 ? `@regcache_referrers_${ttlSeconds}s` : '@regcache_referrers_uncached';
}

/**
 * Builds the view from config and the live backend addresses. Registries without a backend
 * address are left out: nginx must never route to a cache that does not exist.
 */
export function nginxView(input: {
  config: RegcacheConfig;
  backends: ReadonlyMap<string, string>;
  paths: NginxPaths;
  generation: number;
  /** The `user` directive as the nginx driver resolved it; defaults to nginx.user from the config. */
  user?: string | null;
  /** What the nginx binary offers for Accept (NginxDriver.acceptSupport); the first line only when absent. */
  accept?: AcceptSupport;
  /** Egress listener per cache (`127.0.0.1:PORT`), where referrers are asked of the upstream. */
  egress?: ReadonlyMap<string, string>;
}): NginxView {
  const { config } = input;
  const routed = config.registries
    .filter((r) => input.backends.has(r.name))
    .map((r) => ({ registry: r, cache: effectiveCache(config.cache, r.cache) }));
  const routes = routed.map(({ registry, cache }) => ({
    name: registry.name,
    upstreamId: upstreamId(registry.name),
    address: input.backends.get(registry.name)!,
    cacheZone: `regcache_${registrySlug(registry.name).replace(/-/g, '_')}`,
    tagLocation: tagLocationName(cache.tagTtlSeconds),
    referrersLocation: referrersLocationName(cache.tagTtlSeconds),
    egress: input.egress?.get(registry.name) ?? '',
  }));
  const nsRoutes = firstMirrors(routed.map(({ registry }) => registry)).map((r) => ({ ns: r.mirrorOf, upstreamId: upstreamId(r.name) }));
  const cacheZones = routed.map(({ registry, cache }, i) => ({
    zone: routes[i]!.cacheZone,
    path: path.join(input.paths.cache, registrySlug(registry.name)),
    keysZoneSize: `${keysZoneMib(cache.maxSizeBytes)}m`,
    maxSize: sizeToken(cache.maxSizeBytes),
    inactive: `${cache.inactiveSeconds}s`,
  }));
  const ttls = [...new Set(routed.map(({ cache }) => cache.tagTtlSeconds))].sort((a, b) => a - b);
  const tagLocations = ttls.map((ttl) => ({ name: tagLocationName(ttl), validFor: ttl > 0 ? `${ttl}s` : null, referrers: referrersLocationName(ttl) }));
  const hosts = routed.flatMap(({ registry }) => registry.hosts.map((host) => ({ host, upstreamId: upstreamId(registry.name) })));
  return {
    generation: input.generation,
    user: input.user !== undefined ? input.user : config.nginx.user,
    workerProcesses: config.nginx.workerProcesses,
    listen: httpListen(config),
    paths: input.paths,
    routes,
    hosts,
    nsRoutes,
    cacheZones,
    tagLocations,
    cacheLockTimeout: `${config.cache.lockTimeoutSeconds}s`,
    accept: input.accept ?? FIRST_ACCEPT_LINE_ONLY,
    security: securityView(config, new Set(routes.map((r) => r.name)), upstreamId),
    repositoryRules: routed.flatMap(({ registry }) => repositoryRuleEntries(upstreamId(registry.name), registry.repositories)),
  };
}
